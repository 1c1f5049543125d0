//! Pretraining the GPT on the corpus, as nanoGPT's `train.py` does: random windows of `block_size + 1` tokens from
//! the training stream, next-token cross-entropy, AdamW (decoupled weight decay on the 2-D parameters only, the
//! rule of [`rlx_models::decays`]), linear warm-up then cosine decay to `min_lr`, gradient clipping by global norm,
//! and the held-out loss every `eval_interval` steps, when the checkpoint is written too.
//!
//! Every step's batch and dropout draws come from `(seed, step)`, and the validation batches are fixed, so a run
//! resumed from its checkpoint continues exactly as the uninterrupted run would have.
//!
//! The file reads top to bottom: config, schedule, batches, the trainer and its loop, checkpoints.

use crate::checkpoint;
use crate::guard::{self, NanPolicy};
use crate::logger::Logger;
use crate::{AgentError, Result};
use rand::{Rng, SeedableRng};
use rlx_models::{Gpt, GptConfig, Optimizer};
use std::path::Path;
use tch::{nn, Device, Tensor};

// ---------------------------------------------------------------------------------------------------------------
// Configuration: nanoGPT's shakespeare-char values where they fit a CPU.
// ---------------------------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PretrainConfig {
    /// Optimizer steps (default 2000).
    pub iters: u64,
    /// Sequences of `block_size` tokens per step (default 32).
    pub batch_size: usize,
    /// Peak learning rate, reached after the warm-up (default 1e-3).
    pub learning_rate: f64,
    /// Learning rate at the end of the cosine decay (default 1e-4, a tenth of the peak as nanoGPT sets it).
    pub min_lr: f64,
    /// Steps of linear warm-up (default 100).
    pub warmup_iters: u64,
    /// AdamW's decoupled weight decay on the 2-D parameters (default 0.1).
    pub weight_decay: f64,
    /// AdamW's betas (default 0.9, 0.99: nanoGPT's value for small data).
    pub beta1: f64,
    pub beta2: f64,
    /// Clip the gradient's global norm to this (default 1.0).
    pub grad_clip: f64,
    /// Estimate the held-out loss and write the checkpoint every this many steps, and at the end (default 250).
    pub eval_interval: u64,
    /// Batches of the held-out estimate (default 20; the same batches every time).
    pub eval_iters: usize,
    /// Log the training loss every this many steps (default 10).
    pub log_interval: u64,
    /// A non-finite loss or gradient: "error" stops training (default), "skip" skips that step.
    pub nan_policy: NanPolicy,
}

impl Default for PretrainConfig {
    fn default() -> Self {
        PretrainConfig {
            iters: 2000,
            batch_size: 32,
            learning_rate: 1e-3,
            min_lr: 1e-4,
            warmup_iters: 100,
            weight_decay: 0.1,
            beta1: 0.9,
            beta2: 0.99,
            grad_clip: 1.0,
            eval_interval: 250,
            eval_iters: 20,
            log_interval: 10,
            nan_policy: NanPolicy::Error,
        }
    }
}

impl PretrainConfig {
    pub fn validate(&self) -> Result<()> {
        let bad = |msg: &str| Err(AgentError::Config(format!("pretrain: {msg}")));
        if self.iters == 0 || self.batch_size == 0 || self.eval_interval == 0 || self.eval_iters == 0 {
            return bad("iters, batch_size, eval_interval and eval_iters must be at least 1");
        }
        if !(self.learning_rate > 0.0 && self.min_lr >= 0.0 && self.min_lr <= self.learning_rate) {
            return bad("learning_rate must be positive and min_lr in [0, learning_rate]");
        }
        if !(0.0..1.0).contains(&self.beta1) || !(0.0..1.0).contains(&self.beta2) {
            return bad("beta1 and beta2 must be in [0, 1)");
        }
        if self.weight_decay < 0.0 || self.grad_clip.is_nan() || self.grad_clip <= 0.0 || self.log_interval == 0 {
            return bad("weight_decay must be >= 0, grad_clip positive, log_interval at least 1");
        }
        Ok(())
    }

    /// The learning rate of step `iter` (from 0): linear warm-up to `learning_rate`, then half a cosine down to
    /// `min_lr` at the last step (nanoGPT's `get_lr` with `lr_decay_iters = iters`).
    pub fn lr_at(&self, iter: u64) -> f64 {
        if iter < self.warmup_iters {
            return self.learning_rate * (iter + 1) as f64 / (self.warmup_iters + 1) as f64;
        }
        let ratio = (iter - self.warmup_iters) as f64 / (self.iters.saturating_sub(self.warmup_iters)).max(1) as f64;
        let coeff = 0.5 * (1.0 + (std::f64::consts::PI * ratio.min(1.0)).cos());
        self.min_lr + coeff * (self.learning_rate - self.min_lr)
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Batches: nanoGPT's `get_batch`.
// ---------------------------------------------------------------------------------------------------------------

/// `batch` windows starting at random offsets of `tokens`: inputs and targets (the inputs shifted by one), each
/// (batch, block) i64 on `device`.
pub fn random_windows(
    tokens: &[i64],
    batch: usize,
    block: usize,
    rng: &mut impl Rng,
    device: Device,
) -> (Tensor, Tensor) {
    assert!(tokens.len() > block + 1, "{} tokens cannot fill a window of {block}", tokens.len());
    let mut x = Vec::with_capacity(batch * block);
    let mut y = Vec::with_capacity(batch * block);
    for _ in 0..batch {
        let start = rng.random_range(0..tokens.len() - block);
        x.extend_from_slice(&tokens[start..start + block]);
        y.extend_from_slice(&tokens[start + 1..start + block + 1]);
    }
    let shape = [batch as i64, block as i64];
    (Tensor::from_slice(&x).view(shape).to_device(device), Tensor::from_slice(&y).view(shape).to_device(device))
}

/// The generator of step `iter`'s batch: a function of the seed and the step only, so resuming draws the same.
fn step_rng(seed: u64, iter: u64) -> rand_pcg::Pcg64 {
    rand_pcg::Pcg64::seed_from_u64(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ iter)
}

// ---------------------------------------------------------------------------------------------------------------
// The trainer.
// ---------------------------------------------------------------------------------------------------------------

/// A GPT, its variables and its AdamW, and how far pretraining got.
pub struct Pretrainer {
    pub config: PretrainConfig,
    pub vs: nn::VarStore,
    pub model: Gpt,
    optimizer: Optimizer,
    seed: u64,
    /// Steps taken.
    pub iter: u64,
    /// Steps skipped by the NaN guard (`nan_policy = "skip"`).
    pub skipped: u64,
    /// The last held-out loss.
    pub val_loss: f64,
}

/// What a finished (or resumed-to-the-end) pretraining reports.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PretrainSummary {
    pub iters: u64,
    pub train_loss: f64,
    pub val_loss: f64,
    pub tokens_per_s: f64,
    pub wall_time_s: f64,
}

impl Pretrainer {
    /// A freshly initialized GPT (seeded with `seed`) and its optimizer.
    pub fn new(model: GptConfig, config: PretrainConfig, seed: u64, device: Device) -> Result<Self> {
        config.validate()?;
        tch::manual_seed(seed as i64);
        let vs = nn::VarStore::new(device);
        let model = Gpt::new(&vs.root(), model);
        let optimizer = super::adamw(&vs, config.weight_decay, config.beta1, config.beta2);
        Ok(Pretrainer { config, vs, model, optimizer, seed, iter: 0, skipped: 0, val_loss: f64::NAN })
    }

    /// Parameters (nanoGPT's count: without the position embedding) and how many of them decay.
    pub fn describe(&self) -> String {
        let c = &self.model.config;
        format!(
            "GPT {} layers x {} heads x {} dims, block {}, vocabulary {}: {:.2}M parameters ({:.2}M decayed)",
            c.n_layer,
            c.n_head,
            c.n_embd,
            c.block_size,
            c.vocab_size,
            self.model.num_parameters(&self.vs) as f64 / 1e6,
            self.optimizer.num_decayed() as f64 / 1e6
        )
    }

    /// Mean loss over `eval_iters` fixed windows of `tokens` (no dropout, no gradients).
    pub fn evaluate(&self, tokens: &[i64]) -> f64 {
        let block = self.model.config.block_size as usize;
        let mut rng = rand_pcg::Pcg64::seed_from_u64(0xE7A1);
        let losses: f64 = tch::no_grad(|| {
            (0..self.config.eval_iters)
                .map(|_| {
                    let (x, y) = random_windows(tokens, self.config.batch_size, block, &mut rng, self.vs.device());
                    self.model.loss(&x, &y, false).double_value(&[])
                })
                .sum()
        });
        losses / self.config.eval_iters as f64
    }

    /// Trains from step `self.iter` to `config.iters` on `train`, estimating the loss on `val` and writing the
    /// checkpoint every `eval_interval` steps and at the end. Ctrl-C or SIGTERM stops after the current step with a
    /// checkpoint.
    pub fn train(
        &mut self,
        train: &[i64],
        val: &[i64],
        logger: &mut Logger,
        checkpoint: &Path,
    ) -> Result<PretrainSummary> {
        let block = self.model.config.block_size as usize;
        let tokens_per_step = (self.config.batch_size * block) as f64;
        let (start_iter, started) = (self.iter, std::time::Instant::now());
        let (mut window_loss, mut window_steps, mut last_train_loss) = (0.0, 0u64, f64::NAN);
        while self.iter < self.config.iters {
            let lr = self.config.lr_at(self.iter);
            let mut rng = step_rng(self.seed, self.iter);
            let (x, y) = random_windows(train, self.config.batch_size, block, &mut rng, self.vs.device()); // (B, T)
            tch::manual_seed((self.seed as i64).wrapping_mul(1_000_003).wrapping_add(self.iter as i64)); // dropout
            let loss = self.model.loss(&x, &y, true);
            self.iter += 1;
            let (cfg, counters) = (&self.config, (self.iter, &mut self.skipped));
            if let Some(value) =
                super::guarded_step(&mut self.optimizer, &loss, lr, cfg.grad_clip, cfg.nan_policy, counters, logger)?
            {
                (window_loss, window_steps) = (window_loss + value, window_steps + 1);
            }
            if self.iter.is_multiple_of(self.config.log_interval) && window_steps > 0 {
                last_train_loss = window_loss / window_steps as f64;
                let tokens_per_s = (self.iter - start_iter) as f64 * tokens_per_step / started.elapsed().as_secs_f64();
                logger.scalar("train/loss", last_train_loss, self.iter);
                logger.scalar("charts/learning_rate", lr, self.iter);
                logger.scalar("charts/tokens_per_s", tokens_per_s, self.iter);
                logger.progress_with(self.iter, format!("loss {last_train_loss:.3}  {tokens_per_s:.0} tokens/s"));
                (window_loss, window_steps) = (0.0, 0);
            }
            if self.iter.is_multiple_of(self.config.eval_interval) || self.iter == self.config.iters {
                self.val_loss = self.evaluate(val);
                logger.scalar("val/loss", self.val_loss, self.iter);
                logger.flush();
                self.save(checkpoint)?;
            }
            if guard::interrupted() {
                self.save(checkpoint)?;
                logger.finish();
                return Err(AgentError::Interrupted { step: self.iter });
            }
        }
        logger.finish();
        let wall = started.elapsed().as_secs_f64();
        Ok(PretrainSummary {
            iters: self.iter,
            train_loss: last_train_loss,
            val_loss: self.val_loss,
            tokens_per_s: (self.iter - start_iter) as f64 * tokens_per_step / wall.max(1e-9),
            wall_time_s: wall,
        })
    }

    // -----------------------------------------------------------------------------------------------------------
    // Checkpoints: rlx's one format for a trained network.
    // -----------------------------------------------------------------------------------------------------------

    pub fn save(&self, path: &Path) -> Result<()> {
        let state = serde_json::json!({
            "algo": "rlhf",
            "env_id": "pretrain",
            "iter": self.iter,
            "skipped_updates": self.skipped,
            "val_loss": self.val_loss,
        });
        checkpoint::save_trained(path, &self.vs, &self.optimizer, state)
    }

    pub fn load(&mut self, path: &Path) -> Result<()> {
        let state = checkpoint::load_trained(path, &self.vs, Some(&mut self.optimizer), "rlhf", "pretrain")?;
        let err = |key: &str| AgentError::Checkpoint {
            path: path.display().to_string(),
            reason: format!("state field `{key}` missing"),
        };
        self.iter = state["iter"].as_u64().ok_or_else(|| err("iter"))?;
        self.skipped = state["skipped_updates"].as_u64().ok_or_else(|| err("skipped_updates"))?;
        self.val_loss = state["val_loss"].as_f64().unwrap_or(f64::NAN);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// nanoGPT's `get_lr` (warmup 10, lr_decay_iters 100, lr 1e-3, min_lr 1e-4): steps 0, 9, 10, 55, 100.
    #[test]
    fn schedule_is_nanogpts() {
        let cfg = PretrainConfig { iters: 100, warmup_iters: 10, ..Default::default() };
        let want = [(0, 1e-3 / 11.0), (9, 1e-3 * 10.0 / 11.0), (10, 1e-3), (55, 5.5e-4), (100, 1e-4)];
        for (iter, lr) in want {
            assert!((cfg.lr_at(iter) - lr).abs() < 1e-12, "step {iter}: {} vs {lr}", cfg.lr_at(iter));
        }
    }

    #[test]
    fn windows_are_shifted_by_one() {
        let tokens: Vec<i64> = (0..50).collect();
        let mut rng = rand_pcg::Pcg64::seed_from_u64(1);
        let (x, y) = random_windows(&tokens, 3, 8, &mut rng, Device::Cpu);
        assert_eq!(x.size(), [3, 8]);
        assert!((y - x).eq(1).all().int64_value(&[]) == 1);
    }
}
