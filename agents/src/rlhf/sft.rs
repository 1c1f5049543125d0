//! Supervised fine-tuning on demonstrations: the pretrained GPT learns to continue a prompt the way the labellers
//! like. The demonstrations are lines of the training text whose continuation the gold reward scores at least
//! `min_gold` (the positive ones), cut into a prompt (the line's first `prompt_words` words) and a response (the
//! rest of the line with its end of line); the loss is the cross-entropy of the response tokens only (targets of the
//! prompt and the padding are -1, left out), as TRL's `SFTTrainer` with a completion-only collator trains.
//!
//! Minibatches are shuffled per epoch from `(seed, epoch)`, and a checkpoint is written after every epoch, so a
//! resumed run repeats the uninterrupted one.
//!
//! The file reads top to bottom: config, demonstrations, batches, the trainer and its loop, checkpoints.

use super::task::{self, GoldReward};
use crate::guard::{self, NanPolicy};
use crate::logger::Logger;
use crate::{AgentError, Result};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rlx_models::{Bpe, Gpt, GptConfig, Optimizer};
use std::path::Path;
use tch::{nn, Device, Kind, Tensor};

// ---------------------------------------------------------------------------------------------------------------
// Configuration.
// ---------------------------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SftConfig {
    /// Words of a line given as the prompt; the rest of the line is the response (default 3).
    pub prompt_words: usize,
    /// Keep a line as a demonstration when the gold reward of its response is at least this (default 0.3).
    pub min_gold: f64,
    /// Most demonstrations to train on, the first ones of the training text (default 20000).
    pub max_demonstrations: usize,
    /// Passes over the demonstrations (default 2).
    pub epochs: usize,
    /// Demonstrations per step (default 32).
    pub batch_size: usize,
    /// Constant learning rate after `warmup_steps` of linear warm-up (default 3e-4).
    pub learning_rate: f64,
    pub warmup_steps: u64,
    /// AdamW's decoupled weight decay on the 2-D parameters (default 0.0, as TRL's SFT).
    pub weight_decay: f64,
    /// Clip the gradient's global norm to this (default 1.0).
    pub grad_clip: f64,
    /// Log the training loss every this many steps (default 10).
    pub log_interval: u64,
    /// A non-finite loss or gradient: "error" stops training (default), "skip" skips that step.
    pub nan_policy: NanPolicy,
}

impl Default for SftConfig {
    fn default() -> Self {
        SftConfig {
            prompt_words: 3,
            min_gold: 0.3,
            max_demonstrations: 20_000,
            epochs: 2,
            batch_size: 32,
            learning_rate: 3e-4,
            warmup_steps: 20,
            weight_decay: 0.0,
            grad_clip: 1.0,
            log_interval: 10,
            nan_policy: NanPolicy::Error,
        }
    }
}

impl SftConfig {
    pub fn validate(&self) -> Result<()> {
        let ok = self.prompt_words >= 1
            && self.max_demonstrations >= 1
            && self.epochs >= 1
            && self.batch_size >= 1
            && self.learning_rate > 0.0
            && self.weight_decay >= 0.0
            && self.grad_clip > 0.0
            && self.log_interval >= 1;
        if !ok {
            return Err(AgentError::Config(
                "sft: prompt_words, max_demonstrations, epochs, batch_size and log_interval must be at least 1; \
                 learning_rate and grad_clip positive; weight_decay >= 0"
                    .into(),
            ));
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Demonstrations.
// ---------------------------------------------------------------------------------------------------------------

/// A prompt and the response the labellers would like, as token ids.
#[derive(Debug, Clone, PartialEq)]
pub struct Demonstration {
    pub prompt: Vec<i64>,
    pub response: Vec<i64>,
    /// The response's gold reward.
    pub gold: f64,
}

/// The spoken lines of `text` whose response scores at least `min_gold`, at most `limit` of them, each cut after
/// `prompt_words` words and tokenized (prompt, then response with its end of line), keeping those that fit `block`.
pub fn demonstrations(
    text: &str,
    tokenizer: &Bpe,
    gold: &GoldReward,
    config: &SftConfig,
    block: usize,
    limit: usize,
) -> Vec<Demonstration> {
    let mut out = Vec::new();
    for line in text.lines() {
        let Some((prompt, response)) = task::split_line(line, config.prompt_words) else { continue };
        let response = format!("{response}\n");
        let score = gold.score(&response).total;
        if score < config.min_gold {
            continue;
        }
        let (prompt, response) = (tokenizer.encode(&prompt), tokenizer.encode(&response));
        if prompt.len() + response.len() <= block {
            out.push(Demonstration { prompt, response, gold: score });
        }
        if out.len() == limit {
            break;
        }
    }
    out
}

/// A minibatch of (prompt, response) rows: inputs (B, L) right-padded, and targets (B, L) that hold the next token
/// where it is a response token and -1 elsewhere (prompt, padding), L the longest row less one.
pub fn batch(rows: &[(&[i64], &[i64])], device: Device) -> (Tensor, Tensor) {
    let width = rows.iter().map(|(p, r)| p.len() + r.len() - 1).max().unwrap_or(1);
    let mut x = vec![0i64; rows.len() * width];
    let mut y = vec![-1i64; rows.len() * width];
    for (i, (prompt, response)) in rows.iter().enumerate() {
        let seq: Vec<i64> = prompt.iter().chain(response.iter()).copied().collect();
        for t in 0..seq.len() - 1 {
            x[i * width + t] = seq[t];
            if t + 1 >= prompt.len() {
                y[i * width + t] = seq[t + 1];
            }
        }
    }
    let shape = [rows.len() as i64, width as i64];
    (Tensor::from_slice(&x).view(shape).to_device(device), Tensor::from_slice(&y).view(shape).to_device(device))
}

fn rows<'a>(demos: impl Iterator<Item = &'a Demonstration>) -> Vec<(&'a [i64], &'a [i64])> {
    demos.map(|d| (d.prompt.as_slice(), d.response.as_slice())).collect()
}

// ---------------------------------------------------------------------------------------------------------------
// The trainer.
// ---------------------------------------------------------------------------------------------------------------

pub struct SftTrainer {
    pub config: SftConfig,
    pub vs: nn::VarStore,
    pub model: Gpt,
    optimizer: Optimizer,
    seed: u64,
    pub epoch: usize,
    pub step: u64,
    pub skipped: u64,
}

impl SftTrainer {
    /// The GPT of shape `model` with the weights of the pretraining checkpoint `pretrained`, and a fresh AdamW.
    pub fn new(model: GptConfig, config: SftConfig, pretrained: &Path, seed: u64, device: Device) -> Result<Self> {
        config.validate()?;
        let (vs, model) = super::load_gpt(model, pretrained, "pretrain", device)?;
        let optimizer = super::adamw(&vs, config.weight_decay, 0.9, 0.999);
        Ok(SftTrainer { config, vs, model, optimizer, seed, epoch: 0, step: 0, skipped: 0 })
    }

    /// Mean cross-entropy per response token of `demos` (no gradients).
    pub fn evaluate(&self, demos: &[Demonstration]) -> f64 {
        let (mut total, mut tokens) = (0.0, 0i64);
        tch::no_grad(|| {
            for chunk in demos.chunks(self.config.batch_size.max(64)) {
                let (x, y) = batch(&rows(chunk.iter()), self.vs.device());
                let n = y.ne(-1).sum(Kind::Int64).int64_value(&[]);
                total += self.model.loss(&x, &y, false).double_value(&[]) * n as f64;
                tokens += n;
            }
        });
        total / tokens.max(1) as f64
    }

    /// Trains from `self.epoch` to `config.epochs` on `train`, logging `train/loss` and the held-out response loss
    /// `val/loss` after each epoch, when the checkpoint is written too.
    pub fn train(
        &mut self,
        train: &[Demonstration],
        val: &[Demonstration],
        logger: &mut Logger,
        path: &Path,
    ) -> Result<f64> {
        let mut val_loss = f64::NAN;
        while self.epoch < self.config.epochs {
            let mut order: Vec<usize> = (0..train.len()).collect();
            order.shuffle(&mut rand_pcg::Pcg64::seed_from_u64(self.seed ^ (self.epoch as u64 + 1).wrapping_mul(0x5F7)));
            let (mut window_loss, mut window_steps) = (0.0, 0u64);
            for chunk in order.chunks(self.config.batch_size) {
                let (x, y) = batch(&rows(chunk.iter().map(|&i| &train[i])), self.vs.device());
                let lr = self.config.learning_rate
                    * ((self.step + 1) as f64 / self.config.warmup_steps.max(1) as f64).min(1.0);
                let loss = self.model.loss(&x, &y, true);
                self.step += 1;
                let (cfg, counters) = (&self.config, (self.step, &mut self.skipped));
                if let Some(value) = super::guarded_step(
                    &mut self.optimizer,
                    &loss,
                    lr,
                    cfg.grad_clip,
                    cfg.nan_policy,
                    counters,
                    logger,
                )? {
                    (window_loss, window_steps) = (window_loss + value, window_steps + 1);
                }
                if self.step.is_multiple_of(self.config.log_interval) && window_steps > 0 {
                    let mean = window_loss / window_steps as f64;
                    logger.scalar("train/loss", mean, self.step);
                    logger.scalar("charts/learning_rate", lr, self.step);
                    logger.progress_with(self.step, format!("epoch {} loss {mean:.3}", self.epoch + 1));
                    (window_loss, window_steps) = (0.0, 0);
                }
                if guard::interrupted() {
                    // The epoch is not finished: the last epoch's checkpoint stays, and resuming repeats this one.
                    logger.finish();
                    return Err(AgentError::Interrupted { step: self.step });
                }
            }
            self.epoch += 1;
            val_loss = self.evaluate(val);
            logger.scalar("val/loss", val_loss, self.step);
            logger.scalar("charts/epoch", self.epoch as f64, self.step);
            logger.flush();
            self.save(path)?;
        }
        logger.finish();
        Ok(val_loss)
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        super::save_stage(path, &self.vs, &self.optimizer, "sft", (self.epoch, self.step, self.skipped))
    }

    pub fn load(&mut self, path: &Path) -> Result<()> {
        (self.epoch, self.step, self.skipped) = super::load_stage(path, &self.vs, &mut self.optimizer, "sft")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_response_tokens_are_targets() {
        let a = Demonstration { prompt: vec![5, 6], response: vec![7, 8, 9], gold: 0.5 };
        let b = Demonstration { prompt: vec![1], response: vec![2], gold: 0.5 };
        let (x, y) = batch(&rows([&a, &b].into_iter()), Device::Cpu);
        assert_eq!(Vec::<i64>::try_from(x.reshape([-1])).unwrap(), [5, 6, 7, 8, 1, 0, 0, 0]);
        // Row a predicts 7, 8, 9 from positions 1..3; row b predicts 2 from position 0; the rest is left out.
        assert_eq!(Vec::<i64>::try_from(y.reshape([-1])).unwrap(), [-1, 7, 8, 9, 2, -1, -1, -1]);
    }
}
