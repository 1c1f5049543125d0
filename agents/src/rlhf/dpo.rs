//! Direct Preference Optimization (Rafailov et al. 2023): the fine-tuned policy trained on the reward model's
//! preference pairs directly, with no reward model and no sampling while training. With `π` the policy, `ref` the
//! frozen SFT model and log-probabilities summed over the response tokens,
//!
//! `loss = -log sigmoid(beta [(log π(chosen) - log ref(chosen)) - (log π(rejected) - log ref(rejected))])`
//!
//! (TRL's `DPOTrainer` with the sigmoid loss). `beta` sets how far the policy may move from the reference: the
//! implicit reward of a response is `beta (log π - log ref)`.
//!
//! The file reads top to bottom: config, the loss, the trainer, checkpoints.

use super::reward::Pair;
use crate::guard::{self, NanPolicy};
use crate::logger::Logger;
use crate::{AgentError, Result};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rlx_models::{Gpt, GptConfig, Optimizer};
use std::path::Path;
use tch::{nn, Device, Kind, Tensor};

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DpoConfig {
    /// Strength of the pull towards the reference (default 0.1, the paper's and TRL's).
    pub beta: f64,
    /// Passes over the preference pairs (default 1).
    pub epochs: usize,
    /// Pairs per step (default 16).
    pub batch_size: usize,
    /// Constant learning rate after `warmup_steps` of linear warm-up (default 1e-4).
    pub learning_rate: f64,
    pub warmup_steps: u64,
    /// Clip the gradient's global norm to this (default 1.0).
    pub grad_clip: f64,
    /// Log the loss and the implicit rewards every this many steps (default 10).
    pub log_interval: u64,
    /// A non-finite loss or gradient: "error" stops training (default), "skip" skips that step.
    pub nan_policy: NanPolicy,
}

impl Default for DpoConfig {
    fn default() -> Self {
        DpoConfig {
            beta: 0.1,
            epochs: 1,
            batch_size: 16,
            learning_rate: 1e-4,
            warmup_steps: 10,
            grad_clip: 1.0,
            log_interval: 10,
            nan_policy: NanPolicy::Error,
        }
    }
}

impl DpoConfig {
    pub fn validate(&self) -> Result<()> {
        let ok = self.beta > 0.0
            && self.epochs >= 1
            && self.batch_size >= 1
            && self.learning_rate > 0.0
            && self.grad_clip > 0.0
            && self.log_interval >= 1;
        if !ok {
            return Err(AgentError::Config(
                "dpo: beta, learning_rate and grad_clip must be positive; epochs, batch_size and log_interval at \
                 least 1"
                    .into(),
            ));
        }
        Ok(())
    }
}

/// The DPO loss of a batch from the four (B,) sums of response log-probabilities, with the implicit rewards
/// `beta (log π - log ref)` of the chosen and rejected responses (means) and the share ranked as labelled.
pub struct DpoLoss {
    pub loss: Tensor,
    pub chosen_reward: f64,
    pub rejected_reward: f64,
    pub accuracy: f64,
}

pub fn dpo_loss(
    policy_chosen: &Tensor,
    policy_rejected: &Tensor,
    ref_chosen: &Tensor,
    ref_rejected: &Tensor,
    beta: f64,
) -> DpoLoss {
    let chosen = (policy_chosen - ref_chosen) * beta; // (B,)
    let rejected = (policy_rejected - ref_rejected) * beta;
    let margin = &chosen - &rejected;
    let loss = -margin.log_sigmoid().mean(Kind::Float);
    let (chosen_reward, rejected_reward, accuracy) = tch::no_grad(|| {
        (
            chosen.mean(Kind::Float).double_value(&[]),
            rejected.mean(Kind::Float).double_value(&[]),
            margin.gt(0.0).to_kind(Kind::Float).mean(Kind::Float).double_value(&[]),
        )
    });
    DpoLoss { loss, chosen_reward, rejected_reward, accuracy }
}

pub struct DpoTrainer {
    pub config: DpoConfig,
    pub vs: nn::VarStore,
    pub policy: Gpt,
    _reference_vs: nn::VarStore,
    reference: Gpt,
    optimizer: Optimizer,
    seed: u64,
    pub epoch: usize,
    pub step: u64,
    pub skipped: u64,
}

impl DpoTrainer {
    /// The policy and the frozen reference, both from the fine-tuned checkpoint `sft`.
    pub fn new(model: GptConfig, config: DpoConfig, sft: &Path, seed: u64, device: Device) -> Result<Self> {
        config.validate()?;
        let (vs, policy) = super::load_gpt(model.clone(), sft, "sft", device)?;
        let (mut reference_vs, reference) = super::load_gpt(model, sft, "sft", device)?;
        reference_vs.freeze();
        let optimizer = super::adamw(&vs, 0.0, 0.9, 0.999);
        Ok(DpoTrainer {
            config,
            vs,
            policy,
            _reference_vs: reference_vs,
            reference,
            optimizer,
            seed,
            epoch: 0,
            step: 0,
            skipped: 0,
        })
    }

    /// The frozen SFT model the policy is measured against.
    pub fn reference(&self) -> &Gpt {
        &self.reference
    }

    fn batch_loss(&self, pairs: &[&Pair], train: bool) -> DpoLoss {
        let chosen: Vec<(&[i64], &[i64])> = pairs.iter().map(|p| (p.prompt.as_slice(), p.chosen.as_slice())).collect();
        let rejected: Vec<(&[i64], &[i64])> =
            pairs.iter().map(|p| (p.prompt.as_slice(), p.rejected.as_slice())).collect();
        let logp = |model: &Gpt, rows: &[(&[i64], &[i64])]| super::response_logprobs(model, rows, 1.0, train);
        let (ref_chosen, ref_rejected) =
            tch::no_grad(|| (logp(&self.reference, &chosen), logp(&self.reference, &rejected)));
        dpo_loss(
            &logp(&self.policy, &chosen),
            &logp(&self.policy, &rejected),
            &ref_chosen,
            &ref_rejected,
            self.config.beta,
        )
    }

    /// Held-out share of pairs the implicit reward ranks as labelled.
    pub fn evaluate(&self, pairs: &[Pair]) -> f64 {
        let right: f64 = tch::no_grad(|| {
            pairs
                .chunks(64)
                .map(|c| self.batch_loss(&c.iter().collect::<Vec<_>>(), false).accuracy * c.len() as f64)
                .sum()
        });
        right / pairs.len().max(1) as f64
    }

    /// Trains from `self.epoch` to `config.epochs`, logging `train/loss`, `dpo/chosen_reward`,
    /// `dpo/rejected_reward`, `train/accuracy`, and the held-out `val/accuracy` after each epoch, when the
    /// checkpoint is written too.
    pub fn train(&mut self, train: &[Pair], val: &[Pair], logger: &mut Logger, path: &Path) -> Result<f64> {
        let mut accuracy = self.evaluate(val);
        while self.epoch < self.config.epochs {
            let mut order: Vec<usize> = (0..train.len()).collect();
            order.shuffle(&mut rand_pcg::Pcg64::seed_from_u64(self.seed ^ (self.epoch as u64 + 1).wrapping_mul(0xD90)));
            let mut window = (0.0, 0.0, 0.0, 0.0, 0u64);
            for chunk in order.chunks(self.config.batch_size) {
                let refs: Vec<&Pair> = chunk.iter().map(|&i| &train[i]).collect();
                let out = self.batch_loss(&refs, true);
                let lr = self.config.learning_rate
                    * ((self.step + 1) as f64 / self.config.warmup_steps.max(1) as f64).min(1.0);
                self.step += 1;
                let (cfg, counters) = (&self.config, (self.step, &mut self.skipped));
                if let Some(value) = super::guarded_step(
                    &mut self.optimizer,
                    &out.loss,
                    lr,
                    cfg.grad_clip,
                    cfg.nan_policy,
                    counters,
                    logger,
                )? {
                    window = (
                        window.0 + value,
                        window.1 + out.chosen_reward,
                        window.2 + out.rejected_reward,
                        window.3 + out.accuracy,
                        window.4 + 1,
                    );
                }
                if self.step.is_multiple_of(self.config.log_interval) && window.4 > 0 {
                    let n = window.4 as f64;
                    logger.scalar("train/loss", window.0 / n, self.step);
                    logger.scalar("dpo/chosen_reward", window.1 / n, self.step);
                    logger.scalar("dpo/rejected_reward", window.2 / n, self.step);
                    logger.scalar("train/accuracy", window.3 / n, self.step);
                    logger.progress_with(self.step, format!("loss {:.3} accuracy {:.2}", window.0 / n, window.3 / n));
                    window = (0.0, 0.0, 0.0, 0.0, 0);
                }
                if guard::interrupted() {
                    logger.finish();
                    return Err(AgentError::Interrupted { step: self.step });
                }
            }
            self.epoch += 1;
            accuracy = self.evaluate(val);
            logger.scalar("val/accuracy", accuracy, self.step);
            logger.flush();
            self.save(path)?;
        }
        logger.finish();
        Ok(accuracy)
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        super::save_stage(path, &self.vs, &self.optimizer, "dpo", (self.epoch, self.step, self.skipped))
    }

    pub fn load(&mut self, path: &Path) -> Result<()> {
        (self.epoch, self.step, self.skipped) = super::load_stage(path, &self.vs, &mut self.optimizer, "dpo")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// beta 0.5; margins (1 - 0) - (-1 - 0.5) = 2.5 and (0 - 1) - (0 - 0) = -1, times beta: 1.25 and -0.5.
    #[test]
    fn dpo_loss_by_hand() {
        let t = |v: [f32; 2]| Tensor::from_slice(&v);
        let out = dpo_loss(&t([1.0, 0.0]), &t([-1.0, 0.0]), &t([0.0, 1.0]), &t([0.5, 0.0]), 0.5);
        let want = ((1.0 + (-1.25f64).exp()).ln() + (1.0 + 0.5f64.exp()).ln()) / 2.0;
        assert!((out.loss.double_value(&[]) - want).abs() < 1e-6);
        assert!((out.chosen_reward - (0.5 + -0.5) / 2.0).abs() < 1e-6);
        assert!((out.rejected_reward - (-0.75 + 0.0) / 2.0).abs() < 1e-6);
        assert_eq!(out.accuracy, 0.5);
    }
}
