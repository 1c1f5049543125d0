//! The reward model: the fine-tuned GPT with a scalar head read at each sequence's last real token, trained on
//! preference pairs with the Bradley-Terry loss `-log sigmoid(r_chosen - r_rejected)` (Ouyang et al. 2022).
//!
//! The pairs are what a labelling campaign would produce: two continuations of one training prompt sampled from
//! the SFT policy, the preferred one drawn from the gold reward's Bradley-Terry probabilities (noisy labels, see
//! [`task`](super::task)). The head starts as "The N+ implementation details of RLHF with PPO" starts it: weights
//! N(0, 1/sqrt(d + 1)), bias 0; after training, the scores are normalized to mean 0 and std 1 on the SFT policy's
//! continuations of held-out prompts (a bias and a scale kept in the checkpoint beside the weights).
//!
//! The file reads top to bottom: config, pairs, the model, the trainer, checkpoints.

use super::task::GoldReward;
use crate::guard::{self, NanPolicy};
use crate::logger::Logger;
use crate::{AgentError, Result};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rlx_models::{Bpe, Gpt, GptConfig, Optimizer, Sampling};
use std::path::Path;
use tch::{nn, Device, Kind, Tensor};

// ---------------------------------------------------------------------------------------------------------------
// Configuration.
// ---------------------------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RewardConfig {
    /// Labelled pairs to train on, from the openings of training lines (default 4000).
    pub pairs: usize,
    /// Labelled pairs from held-out prompts, for the accuracy (default 500).
    pub held_out_pairs: usize,
    /// Temperature of the SFT policy when sampling the two continuations (default 1.0).
    pub sample_temperature: f64,
    /// Passes over the pairs (default 1: reward models overfit after one, Ouyang et al. 2022).
    pub epochs: usize,
    /// Pairs per step (default 32).
    pub batch_size: usize,
    /// Constant learning rate (default 3e-4).
    pub learning_rate: f64,
    /// AdamW's decoupled weight decay on the 2-D parameters (default 0.0).
    pub weight_decay: f64,
    /// Clip the gradient's global norm to this (default 1.0).
    pub grad_clip: f64,
    /// Log the training loss and accuracy every this many steps (default 10).
    pub log_interval: u64,
    /// A non-finite loss or gradient: "error" stops training (default), "skip" skips that step.
    pub nan_policy: NanPolicy,
}

impl Default for RewardConfig {
    fn default() -> Self {
        RewardConfig {
            pairs: 4000,
            held_out_pairs: 500,
            sample_temperature: 1.0,
            epochs: 1,
            batch_size: 32,
            learning_rate: 3e-4,
            weight_decay: 0.0,
            grad_clip: 1.0,
            log_interval: 10,
            nan_policy: NanPolicy::Error,
        }
    }
}

impl RewardConfig {
    pub fn validate(&self) -> Result<()> {
        let ok = self.pairs >= 1
            && self.held_out_pairs >= 1
            && self.sample_temperature > 0.0
            && self.epochs >= 1
            && self.batch_size >= 1
            && self.learning_rate > 0.0
            && self.weight_decay >= 0.0
            && self.grad_clip > 0.0
            && self.log_interval >= 1;
        if !ok {
            return Err(AgentError::Config(
                "rm: pairs, held_out_pairs, epochs, batch_size and log_interval must be at least 1; \
                 sample_temperature, learning_rate and grad_clip positive; weight_decay >= 0"
                    .into(),
            ));
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Preference pairs.
// ---------------------------------------------------------------------------------------------------------------

/// Two continuations of one prompt, as token ids, the labeller's preferred one first.
#[derive(Debug, Clone)]
pub struct Pair {
    pub prompt: Vec<i64>,
    pub chosen: Vec<i64>,
    pub rejected: Vec<i64>,
    /// The gold rewards of `chosen` and `rejected` (the label may disagree with them: it is noisy).
    pub gold: (f64, f64),
    /// The Bradley-Terry probability of the label drawn.
    pub probability: f64,
}

/// Samples two continuations of each prompt from `policy` and labels each pair (seeded).
pub fn label_pairs(
    policy: &Gpt,
    tokenizer: &Bpe,
    gold: &GoldReward,
    prompts: &[String],
    sampling: Sampling,
    max_new_tokens: usize,
    seed: u64,
) -> Result<Vec<Pair>> {
    let stop = super::line_end_tokens(tokenizer);
    let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
    let mut pairs = Vec::with_capacity(prompts.len());
    for chunk in prompts.chunks(32) {
        let ids: Vec<Vec<i64>> = chunk.iter().map(|p| tokenizer.encode(p)).collect();
        let doubled: Vec<Vec<i64>> = ids.iter().flat_map(|p| [p.clone(), p.clone()]).collect();
        let room = (policy.config.block_size as usize).saturating_sub(ids.iter().map(Vec::len).max().unwrap_or(0));
        let out = policy
            .generate(&doubled, max_new_tokens.min(room), sampling, &stop, &mut rng)
            .map_err(|e| AgentError::Runtime(e.to_string()))?;
        for (prompt, two) in ids.into_iter().zip(out.chunks(2)) {
            let (a, b) = (two[0].clone(), two[1].clone());
            let (ga, gb) = (gold.score(&tokenizer.decode(&a)).total, gold.score(&tokenizer.decode(&b)).total);
            let p = gold.preference(ga, gb);
            pairs.push(if gold.label(ga, gb, &mut rng) {
                Pair { prompt, chosen: a, rejected: b, gold: (ga, gb), probability: p }
            } else {
                Pair { prompt, chosen: b, rejected: a, gold: (gb, ga), probability: 1.0 - p }
            });
        }
    }
    Ok(pairs)
}

// ---------------------------------------------------------------------------------------------------------------
// The model.
// ---------------------------------------------------------------------------------------------------------------

/// A GPT with a scalar head on the last real token, and the normalization of its scores.
pub struct RewardModel {
    pub gpt: Gpt,
    head: nn::Linear,
    /// Subtracted from, then divided into, the head's output (0 and 1 until [`RewardModel::normalize`]).
    norm_mean: Tensor,
    norm_std: Tensor,
}

impl RewardModel {
    pub fn new(vs: &nn::Path, config: GptConfig) -> Self {
        let d = config.n_embd;
        let gpt = Gpt::new(vs, config);
        let head = vs / "reward_head";
        let ws = head.var("weight", &[1, d], nn::Init::Randn { mean: 0.0, stdev: 1.0 / ((d + 1) as f64).sqrt() });
        let bs = Some(head.var("bias", &[1], nn::Init::Const(0.0)));
        let norm_mean = head.zeros_no_train("norm_mean", &[1]);
        let norm_std = head.ones_no_train("norm_std", &[1]);
        RewardModel { gpt, head: nn::Linear { ws, bs }, norm_mean, norm_std }
    }

    /// Normalized scores (B,) of sequences (prompt + response, unequal lengths), read at each one's last token.
    /// A sequence longer than the block is scored on its last `block_size` tokens.
    pub fn scores(&self, sequences: &[Vec<i64>], train: bool) -> Tensor {
        let device = self.norm_mean.device();
        let block = self.gpt.config.block_size as usize;
        let sequences: Vec<&[i64]> = sequences.iter().map(|s| &s[s.len().saturating_sub(block)..]).collect();
        let width = sequences.iter().map(|s| s.len()).max().unwrap_or(1);
        let mut ids = vec![0i64; sequences.len() * width];
        for (r, s) in sequences.iter().enumerate() {
            ids[r * width..r * width + s.len()].copy_from_slice(s);
        }
        let ids = Tensor::from_slice(&ids).view([sequences.len() as i64, width as i64]).to_device(device);
        // Right padding: causal attention keeps it out of the real tokens' states.
        let hidden = self.gpt.hidden(&ids, None, None, train); // (B, T, C)
        let last: Vec<i64> = sequences.iter().map(|s| s.len() as i64 - 1).collect();
        let index =
            Tensor::from_slice(&last).to_device(device).view([-1, 1, 1]).expand([-1, 1, hidden.size()[2]], false);
        let at_last = hidden.gather(1, &index, false).squeeze_dim(1); // (B, C)
        (at_last.apply(&self.head).squeeze_dim(1) - &self.norm_mean) / &self.norm_std
    }

    /// Sets the normalization so that `reference`'s scores have mean 0 and std 1 (sequences in batches of 64).
    pub fn normalize(&mut self, reference: &[Vec<i64>]) {
        tch::no_grad(|| {
            let _ = self.norm_mean.fill_(0.0);
            let _ = self.norm_std.fill_(1.0);
            let raw = Tensor::cat(&reference.chunks(64).map(|c| self.scores(c, false)).collect::<Vec<_>>(), 0);
            self.norm_mean.copy_(&raw.mean(Kind::Float).view([1]));
            self.norm_std.copy_(&(raw.std(true).view([1]) + 1e-8));
        });
    }
}

/// The trained reward model of a run's `rm` checkpoint (weights and normalization), for the stages that score with
/// it; its variables are frozen.
pub fn load_reward_model(config: GptConfig, path: &Path, device: Device) -> Result<(nn::VarStore, RewardModel)> {
    let mut vs = nn::VarStore::new(device);
    let model = RewardModel::new(&vs.root(), config);
    crate::checkpoint::load_trained(path, &vs, None, "rlhf", "rm")?;
    vs.freeze();
    Ok((vs, model))
}

/// The Bradley-Terry loss of a batch of pairs and the share ranked as labelled.
pub fn preference_loss(chosen: &Tensor, rejected: &Tensor) -> (Tensor, f64) {
    let margin = chosen - rejected; // (B,)
    let accuracy = tch::no_grad(|| margin.gt(0.0).to_kind(Kind::Float).mean(Kind::Float).double_value(&[]));
    (-margin.log_sigmoid().mean(Kind::Float), accuracy)
}

fn sequences(pairs: &[&Pair]) -> (Vec<Vec<i64>>, Vec<Vec<i64>>) {
    let join = |p: &Vec<i64>, r: &Vec<i64>| p.iter().chain(r).copied().collect::<Vec<_>>();
    pairs.iter().map(|p| (join(&p.prompt, &p.chosen), join(&p.prompt, &p.rejected))).unzip()
}

// ---------------------------------------------------------------------------------------------------------------
// The trainer.
// ---------------------------------------------------------------------------------------------------------------

/// Held-out accuracies of a reward model.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RewardEval {
    /// Pairs ranked as labelled.
    pub accuracy: f64,
    /// Pairs ranked as their gold rewards rank them (ties left out).
    pub gold_accuracy: f64,
    /// The best expected accuracy on these noisy labels: the mean of max(p, 1 - p).
    pub ceiling: f64,
}

pub struct RewardTrainer {
    pub config: RewardConfig,
    pub vs: nn::VarStore,
    pub model: RewardModel,
    optimizer: Optimizer,
    seed: u64,
    pub epoch: usize,
    pub step: u64,
    pub skipped: u64,
}

impl RewardTrainer {
    /// A reward model whose GPT starts from the fine-tuned checkpoint `sft`, with a fresh head and AdamW.
    pub fn new(model: GptConfig, config: RewardConfig, sft: &Path, seed: u64, device: Device) -> Result<Self> {
        config.validate()?;
        let vs = nn::VarStore::new(device);
        tch::manual_seed(seed as i64);
        let model = RewardModel::new(&vs.root(), model);
        // The GPT's weights from the SFT checkpoint; the head keeps its initialization.
        let (fine_tuned, _) = super::load_gpt(model.gpt.config.clone(), sft, "sft", device)?;
        tch::no_grad(|| {
            let mine = vs.variables();
            for (name, src) in fine_tuned.variables() {
                mine[&name].shallow_clone().copy_(&src);
            }
        });
        let optimizer = super::adamw(&vs, config.weight_decay, 0.9, 0.999);
        Ok(RewardTrainer { config, vs, model, optimizer, seed, epoch: 0, step: 0, skipped: 0 })
    }

    pub fn evaluate(&self, pairs: &[Pair]) -> RewardEval {
        let (mut right, mut gold_right, mut gold_pairs) = (0usize, 0usize, 0usize);
        tch::no_grad(|| {
            for chunk in pairs.chunks(64) {
                let refs: Vec<&Pair> = chunk.iter().collect();
                let (chosen, rejected) = sequences(&refs);
                let margin = self.model.scores(&chosen, false) - self.model.scores(&rejected, false);
                let margin = rlx_models::to_vec_f32(&margin);
                for (m, pair) in margin.iter().zip(chunk) {
                    right += (*m > 0.0) as usize;
                    if pair.gold.0 != pair.gold.1 {
                        gold_pairs += 1;
                        gold_right += ((*m > 0.0) == (pair.gold.0 > pair.gold.1)) as usize;
                    }
                }
            }
        });
        let probabilities: Vec<f64> = pairs.iter().map(|p| p.probability).collect();
        RewardEval {
            accuracy: right as f64 / pairs.len().max(1) as f64,
            gold_accuracy: gold_right as f64 / gold_pairs.max(1) as f64,
            ceiling: super::task::label_ceiling(&probabilities),
        }
    }

    /// Trains from `self.epoch` to `config.epochs`, logging `train/loss` and `train/accuracy`, and the held-out
    /// `val/accuracy` after each epoch, when the checkpoint is written too.
    pub fn train(&mut self, train: &[Pair], val: &[Pair], logger: &mut Logger, path: &Path) -> Result<RewardEval> {
        let mut eval = self.evaluate(val);
        while self.epoch < self.config.epochs {
            let mut order: Vec<usize> = (0..train.len()).collect();
            order.shuffle(&mut rand_pcg::Pcg64::seed_from_u64(self.seed ^ (self.epoch as u64 + 1).wrapping_mul(0x2E3)));
            let (mut window_loss, mut window_accuracy, mut window_steps) = (0.0, 0.0, 0u64);
            for chunk in order.chunks(self.config.batch_size) {
                let refs: Vec<&Pair> = chunk.iter().map(|&i| &train[i]).collect();
                let (chosen, rejected) = sequences(&refs);
                let both: Vec<Vec<i64>> = chosen.into_iter().chain(rejected).collect();
                let scores = self.model.scores(&both, true); // (2B,)
                let (loss, accuracy) = preference_loss(
                    &scores.narrow(0, 0, refs.len() as i64),
                    &scores.narrow(0, refs.len() as i64, refs.len() as i64),
                );
                self.step += 1;
                let (cfg, counters) = (&self.config, (self.step, &mut self.skipped));
                let lr = cfg.learning_rate;
                if let Some(value) = super::guarded_step(
                    &mut self.optimizer,
                    &loss,
                    lr,
                    cfg.grad_clip,
                    cfg.nan_policy,
                    counters,
                    logger,
                )? {
                    (window_loss, window_accuracy, window_steps) =
                        (window_loss + value, window_accuracy + accuracy, window_steps + 1);
                }
                if self.step.is_multiple_of(self.config.log_interval) && window_steps > 0 {
                    let n = window_steps as f64;
                    logger.scalar("train/loss", window_loss / n, self.step);
                    logger.scalar("train/accuracy", window_accuracy / n, self.step);
                    logger.progress_with(
                        self.step,
                        format!("loss {:.3} accuracy {:.2}", window_loss / n, window_accuracy / n),
                    );
                    (window_loss, window_accuracy, window_steps) = (0.0, 0.0, 0);
                }
                if guard::interrupted() {
                    logger.finish();
                    return Err(AgentError::Interrupted { step: self.step });
                }
            }
            self.epoch += 1;
            eval = self.evaluate(val);
            logger.scalar("val/accuracy", eval.accuracy, self.step);
            logger.scalar("val/gold_accuracy", eval.gold_accuracy, self.step);
            logger.flush();
            self.save(path)?;
        }
        logger.finish();
        Ok(eval)
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        super::save_stage(path, &self.vs, &self.optimizer, "rm", (self.epoch, self.step, self.skipped))
    }

    pub fn load(&mut self, path: &Path) -> Result<()> {
        (self.epoch, self.step, self.skipped) = super::load_stage(path, &self.vs, &mut self.optimizer, "rm")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// -log sigmoid(margin), averaged: margins 2 and -1 give (log(1 + e^-2) + log(1 + e)) / 2.
    #[test]
    fn bradley_terry_loss_by_hand() {
        let (loss, accuracy) =
            preference_loss(&Tensor::from_slice(&[3.0f32, 0.0]), &Tensor::from_slice(&[1.0f32, 1.0]));
        let want = ((1.0 + (-2.0f64).exp()).ln() + (1.0 + 1f64.exp()).ln()) / 2.0;
        assert!((loss.double_value(&[]) - want).abs() < 1e-6);
        assert_eq!(accuracy, 0.5);
    }

    #[test]
    fn scores_read_the_last_token_and_padding_changes_nothing() {
        let config =
            GptConfig { vocab_size: 11, block_size: 16, n_layer: 1, n_head: 2, n_embd: 8, dropout: 0.0, bias: true };
        let vs = nn::VarStore::new(Device::Cpu);
        tch::manual_seed(1);
        let mut rm = RewardModel::new(&vs.root(), config);
        let long = vec![1i64, 2, 3, 4, 5, 6];
        let short = vec![1i64, 2, 3];
        let together = rm.scores(&[long.clone(), short.clone()], false);
        let alone = rm.scores(std::slice::from_ref(&short), false);
        assert!((together.double_value(&[1]) - alone.double_value(&[0])).abs() < 1e-6);
        // The head's init: N(0, 1/sqrt(d + 1)).
        let head = &vs.variables()["reward_head.weight"];
        assert_eq!(head.size(), [1, 8]);
        // Normalized on a reference set, the reference scores have mean 0 and std 1.
        // A sequence past the block is scored on its last 16 tokens.
        let too_long: Vec<i64> = (0..20).map(|i| i % 11).collect();
        let tail = rm.scores(&[too_long[4..].to_vec()], false);
        assert!((rm.scores(&[too_long], false) - tail).abs().max().double_value(&[]) < 1e-6);
        let reference = vec![long, short, vec![7, 8], vec![9, 10, 1, 2]];
        rm.normalize(&reference);
        let s = rm.scores(&reference, false);
        assert!(s.mean(Kind::Float).double_value(&[]).abs() < 1e-5);
        assert!((s.std(true).double_value(&[]) - 1.0).abs() < 1e-4);
    }
}
