//! A byte-level BPE tokenizer (GPT-2's scheme: text as UTF-8 bytes, each byte a printable symbol, merges learned
//! from the corpus) trained here, offline, with Hugging Face's `tokenizers` crate, and saved as the
//! `tokenizer.json` that Python's `tokenizers` and `transformers` (`PreTrainedTokenizerFast`) load.
//!
//! Every byte has a token, so any text encodes; `<|endoftext|>` is a special token (GPT-2's end of text). No prefix
//! space is added (GPT-2's setting), so a continuation encodes the same alone as after its prompt's last word.

use std::path::Path;
use tokenizers::models::bpe::{BpeTrainerBuilder, BPE};
use tokenizers::models::TrainerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{AddedToken, Tokenizer};

/// GPT-2's end-of-text token.
pub const END_OF_TEXT: &str = "<|endoftext|>";

#[derive(Debug, thiserror::Error)]
pub enum BpeError {
    #[error("{path}: {reason}")]
    File { path: String, reason: String },
    #[error("training the BPE tokenizer failed: {0}")]
    Train(String),
}

pub struct Bpe {
    tokenizer: Tokenizer,
    end_of_text: i64,
}

impl Bpe {
    /// Learns merges from `texts` until the vocabulary (256 bytes, merges and the end-of-text token) has
    /// `vocab_size` tokens, merging only pairs seen at least twice.
    pub fn train<'a>(texts: impl Iterator<Item = &'a str> + Send, vocab_size: usize) -> Result<Self, BpeError> {
        let trainer = BpeTrainerBuilder::new()
            .vocab_size(vocab_size)
            .min_frequency(2)
            .show_progress(false)
            .special_tokens(vec![AddedToken::from(END_OF_TEXT, true)])
            .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
            .build();
        let mut trainer = TrainerWrapper::BpeTrainer(trainer);
        let mut tokenizer = Tokenizer::new(BPE::default());
        let byte_level = ByteLevel::new(false, true, true);
        tokenizer
            .with_pre_tokenizer(Some(byte_level))
            .with_decoder(Some(byte_level))
            .with_post_processor(Some(byte_level));
        tokenizer.train(&mut trainer, texts).map_err(|e| BpeError::Train(e.to_string()))?;
        Self::checked(tokenizer, "the trained tokenizer")
    }

    /// Reads a `tokenizer.json`; one without the end-of-text token is refused.
    pub fn load(path: &Path) -> Result<Self, BpeError> {
        let tokenizer = Tokenizer::from_file(path).map_err(|e| BpeError::File {
            path: path.display().to_string(),
            reason: format!("not a tokenizer.json ({e})"),
        })?;
        Self::checked(tokenizer, &path.display().to_string())
    }

    fn checked(tokenizer: Tokenizer, what: &str) -> Result<Self, BpeError> {
        let end_of_text = tokenizer.token_to_id(END_OF_TEXT).ok_or_else(|| BpeError::File {
            path: what.to_string(),
            reason: format!("the tokenizer has no {END_OF_TEXT} token"),
        })?;
        Ok(Bpe { tokenizer, end_of_text: end_of_text as i64 })
    }

    /// Writes `tokenizer.json` (pretty-printed) atomically: a temporary file renamed into place.
    pub fn save(&self, path: &Path) -> Result<(), BpeError> {
        let err = |reason: String| BpeError::File { path: path.display().to_string(), reason };
        let tmp = path.with_extension("json.tmp");
        self.tokenizer.save(&tmp, true).map_err(|e| err(e.to_string()))?;
        std::fs::rename(&tmp, path).map_err(|e| err(e.to_string()))
    }

    /// Tokens in the vocabulary, the end-of-text token included.
    pub fn vocab_size(&self) -> usize {
        self.tokenizer.get_vocab_size(true)
    }

    pub fn end_of_text(&self) -> i64 {
        self.end_of_text
    }

    /// The token ids of `text` (any text: every byte has a token; `<|endoftext|>` in it becomes the special token).
    pub fn encode(&self, text: &str) -> Vec<i64> {
        let encoding = self.tokenizer.encode(text, false).expect("byte-level BPE encodes any text");
        encoding.get_ids().iter().map(|&id| id as i64).collect()
    }

    /// The text of token ids; special tokens are kept as their text.
    pub fn decode(&self, ids: &[i64]) -> String {
        let ids: Vec<u32> = ids.iter().map(|&id| id as u32).collect();
        self.tokenizer.decode(&ids, false).unwrap_or_default()
    }
}
