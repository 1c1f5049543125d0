//! PPO on the language model against the reward model, with a KL penalty to the fine-tuned reference (Ziegler et
//! al. 2019, Ouyang et al. 2022), with the details of Huang et al., "The N+ Implementation Details of RLHF with PPO"
//! (2024) and TRL's `PPOTrainer`:
//!
//! - an episode is one continuation of a prompt; an action is one token; the state is the prompt and the tokens so
//!   far. The policy and the frozen reference both start from the SFT checkpoint;
//! - the reward of token t is `-kl_coef * (log π(t) - log ref(t))` (the k1 estimate of the KL, per token), and the
//!   last token also gets the reward model's normalized score, less `missing_end_penalty` when the continuation
//!   does not end its line within the budget;
//! - the temperature divides the logits both when sampling and in every log-probability (otherwise the ratio at
//!   the first minibatch is not 1 and the KL is measured against the wrong distribution);
//! - the value head is a linear layer on the policy's last hidden state, initialized to zero;
//! - GAE with gamma 1 and lambda 0.95, advantages whitened over the batch's tokens, the clipped policy loss and the
//!   clipped value loss (`0.5 max((V - R)^2, (V_clipped - R)^2)`), several epochs of minibatches, no dropout;
//! - a fixed KL coefficient, or Ziegler et al.'s adaptive controller towards `target_kl`.
//!
//! Each iteration's prompts and sampling draws come from `(seed, iteration)`, and the checkpoint holds the Adam
//! state and the KL coefficient, so a resumed run repeats the uninterrupted one.
//!
//! The file reads top to bottom: config, the trainer, a rollout (sampling, scoring, rewards, advantages), the
//! update, evaluation, checkpoints.

use super::eval::Judged;
use super::reward::RewardModel;
use super::task::GoldReward;
use super::EvalConfig;
use crate::guard::{self, NanPolicy};
use crate::logger::Logger;
use crate::{AgentError, Result};
use rand::seq::{IndexedRandom, SliceRandom};
use rand::SeedableRng;
use rlx_models::{to_vec_f32, Bpe, Gpt, GptConfig, Optimizer, Sampling};
use std::path::Path;
use tch::{nn, nn::Module, Device, Kind, Tensor};

// ---------------------------------------------------------------------------------------------------------------
// Configuration.
// ---------------------------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PpoConfig {
    /// Iterations: each samples one continuation of `batch_size` training prompts, scores them and updates on
    /// them (default 60).
    pub iterations: u64,
    /// Prompts per iteration (default 64).
    pub batch_size: usize,
    /// Continuations per gradient step (default 16).
    pub minibatch_size: usize,
    /// Passes over each iteration's continuations (default 4).
    pub ppo_epochs: usize,
    /// Adam's constant learning rate (default 3e-5).
    pub learning_rate: f64,
    /// Sampling temperature, also applied to the logits of every log-probability (default 0.7, as `eval`).
    pub temperature: f64,
    /// Coefficient of the per-token KL penalty at the start (default 0.05).
    pub kl_coef: f64,
    /// With a positive value, the KL coefficient adapts towards this KL per continuation in nats (Ziegler et al.'s
    /// proportional controller, error clipped to 20%); 0 keeps it fixed (default 0).
    pub target_kl: f64,
    /// The adaptive controller's horizon in continuations (default 10000).
    pub kl_horizon: f64,
    /// Subtracted from the reward model's score of a continuation that does not end its line (default 1.0).
    pub missing_end_penalty: f64,
    /// Clip range of the policy ratio (default 0.2).
    pub clip_range: f64,
    /// Clip range of the value prediction around its rollout value (default 0.2).
    pub clip_range_value: f64,
    /// Weight of the value loss (default 0.1, TRL's).
    pub vf_coef: f64,
    /// Discount over the tokens of a continuation (default 1.0).
    pub gamma: f64,
    /// GAE's lambda (default 0.95).
    pub lam: f64,
    /// Clip the gradient's global norm to this (default 1.0).
    pub grad_clip: f64,
    /// Judge the policy on the held-out prompts (gold and proxy reward, KL to the reference) every this many
    /// iterations and at the end; these points make the over-optimization curve (default 10).
    pub eval_interval: u64,
    /// Write the checkpoint every this many iterations and at the end (default 10).
    pub checkpoint_interval: u64,
    /// A non-finite loss or gradient: "error" stops training (default), "skip" skips that step.
    pub nan_policy: NanPolicy,
}

impl Default for PpoConfig {
    fn default() -> Self {
        PpoConfig {
            iterations: 60,
            batch_size: 64,
            minibatch_size: 16,
            ppo_epochs: 4,
            learning_rate: 3e-5,
            temperature: 0.7,
            kl_coef: 0.05,
            target_kl: 0.0,
            kl_horizon: 10_000.0,
            missing_end_penalty: 1.0,
            clip_range: 0.2,
            clip_range_value: 0.2,
            vf_coef: 0.1,
            gamma: 1.0,
            lam: 0.95,
            grad_clip: 1.0,
            eval_interval: 10,
            checkpoint_interval: 10,
            nan_policy: NanPolicy::Error,
        }
    }
}

impl PpoConfig {
    pub fn validate(&self) -> Result<()> {
        let positive = [self.learning_rate, self.temperature, self.clip_range, self.clip_range_value, self.grad_clip];
        let ok = self.iterations >= 1
            && self.batch_size >= 1
            && (1..=self.batch_size).contains(&self.minibatch_size)
            && self.ppo_epochs >= 1
            && positive.iter().all(|&x| x > 0.0 && x.is_finite())
            && self.kl_coef >= 0.0
            && self.target_kl >= 0.0
            && self.kl_horizon > 0.0
            && self.missing_end_penalty >= 0.0
            && self.vf_coef >= 0.0
            && (0.0..=1.0).contains(&self.gamma)
            && (0.0..=1.0).contains(&self.lam)
            && self.eval_interval >= 1
            && self.checkpoint_interval >= 1;
        if !ok {
            return Err(AgentError::Config(
                "ppo: iterations, batch_size, ppo_epochs, eval_interval and checkpoint_interval must be at least 1, \
                 minibatch_size in 1..=batch_size; learning_rate, temperature, clip ranges, grad_clip and \
                 kl_horizon positive; kl_coef, target_kl, missing_end_penalty and vf_coef >= 0; gamma and lam in \
                 [0, 1]"
                    .into(),
            ));
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------------------------
// The trainer.
// ---------------------------------------------------------------------------------------------------------------

/// What one iteration measured of its continuations (means over them) and of its update.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct IterationStats {
    /// The reward model's normalized score, before the missing-end penalty.
    pub proxy_reward: f64,
    /// The hidden gold reward (never seen by the policy).
    pub gold_reward: f64,
    /// KL to the reference per continuation: k1 = sum of `log π - log ref` over its tokens, and k3 (Schulman's
    /// unbiased, non-negative estimator) summed likewise.
    pub kl: f64,
    pub kl_k3: f64,
    /// The KL penalty's share of the return: `-kl_coef * k1`.
    pub non_score_reward: f64,
    pub end_rate: f64,
    pub response_tokens: f64,
    pub policy_loss: f64,
    pub value_loss: f64,
    pub approx_kl: f64,
    pub clip_fraction: f64,
    pub value_clip_fraction: f64,
}

pub struct PpoTrainer {
    pub config: PpoConfig,
    /// The policy's GPT and its value head (`value_head.*`), trained together.
    pub vs: nn::VarStore,
    pub policy: Gpt,
    value_head: nn::Linear,
    _reference_vs: nn::VarStore,
    reference: Gpt,
    _reward_vs: nn::VarStore,
    reward: RewardModel,
    optimizer: Optimizer,
    /// The tokens that end a line: a continuation stops at the first one.
    stop: Vec<i64>,
    max_new_tokens: usize,
    seed: u64,
    pub iteration: u64,
    pub kl_coef: f64,
    pub skipped: u64,
}

impl PpoTrainer {
    /// The policy (with a zero value head) and the frozen reference from the fine-tuned checkpoint `sft`, the frozen
    /// reward model from `rm`. Continuations are at most `max_new_tokens` long and stop at any of `stop`.
    pub fn new(
        model: GptConfig,
        config: PpoConfig,
        (sft, rm): (&Path, &Path),
        (stop, max_new_tokens): (Vec<i64>, usize),
        seed: u64,
        device: Device,
    ) -> Result<Self> {
        config.validate()?;
        let (vs, policy) = super::load_gpt(model.clone(), sft, "sft", device)?;
        // Zero weights: the first values are 0, and the value loss does not disturb the policy at the start.
        let head = vs.root() / "value_head";
        let ws = head.var("weight", &[1, model.n_embd], nn::Init::Const(0.0));
        let bs = Some(head.var("bias", &[1], nn::Init::Const(0.0)));
        let value_head = nn::Linear { ws, bs };
        let (mut reference_vs, reference) = super::load_gpt(model.clone(), sft, "sft", device)?;
        reference_vs.freeze();
        let (reward_vs, reward) = super::reward::load_reward_model(model, rm, device)?;
        let optimizer = super::adamw(&vs, 0.0, 0.9, 0.999);
        Ok(PpoTrainer {
            kl_coef: config.kl_coef,
            config,
            vs,
            policy,
            value_head,
            _reference_vs: reference_vs,
            reference,
            _reward_vs: reward_vs,
            reward,
            optimizer,
            stop,
            max_new_tokens,
            seed,
            iteration: 0,
            skipped: 0,
        })
    }

    /// The frozen SFT model the policy is measured against.
    pub fn reference(&self) -> &Gpt {
        &self.reference
    }

    /// Trains from `self.iteration` to `config.iterations` on `prompts` (the training prompts), logging each
    /// iteration's [`IterationStats`] (`rlhf/proxy_reward`, `rlhf/gold_reward`, `rlhf/kl`, `losses/*`, ...) and,
    /// every `eval_interval` iterations and at the end, the judgement of the held-out prompts (`eval/*`);
    /// checkpoints to `path`. Returns the last iteration's statistics and the final judgement.
    pub fn train(
        &mut self,
        prompts: &[Vec<i64>],
        judge: (&Bpe, &GoldReward, &[String], &EvalConfig),
        logger: &mut Logger,
        path: &Path,
    ) -> Result<(IterationStats, Judged)> {
        if prompts.is_empty() {
            return Err(AgentError::Config("ppo: no training prompt fits the block".into()));
        }
        let (tokenizer, gold, held_out, eval) = judge;
        let mut stats = IterationStats::default();
        let mut judged = None;
        while self.iteration < self.config.iterations {
            // One generator per iteration: its prompts, its draws and its minibatch order.
            let mut rng = rand_pcg::Pcg64::seed_from_u64(self.seed ^ (self.iteration + 1).wrapping_mul(0x9E37_79B9));
            let batch: Vec<&[i64]> = prompts
                .choose_multiple(&mut rng, self.config.batch_size.min(prompts.len()))
                .map(Vec::as_slice)
                .collect();
            let (rollout, mut measured) = self.rollout(&batch, tokenizer, gold, &mut rng)?;
            self.update(&rollout, &mut measured, &mut rng, logger)?;
            self.iteration += 1;
            self.adapt_kl_coef(measured.kl, batch.len());
            log_iteration(logger, &measured, self.kl_coef, self.iteration);
            logger.progress_with(
                self.iteration,
                format!("proxy {:+.3} gold {:+.3} kl {:.2}", measured.proxy_reward, measured.gold_reward, measured.kl),
            );
            stats = measured;
            if self.iteration.is_multiple_of(self.config.eval_interval) || self.iteration == self.config.iterations {
                let now = self.judge(tokenizer, gold, held_out, eval)?;
                log_judgement(logger, &now, self.iteration);
                judged = Some(now);
            }
            if self.iteration.is_multiple_of(self.config.checkpoint_interval)
                || self.iteration == self.config.iterations
            {
                logger.flush();
                self.save(path)?;
            }
            if guard::interrupted() {
                // Between iterations the state is whole: save it, so the resumed run loses nothing.
                self.save(path)?;
                logger.finish();
                return Err(AgentError::Interrupted { step: self.iteration });
            }
        }
        logger.finish();
        let judged = match judged {
            Some(judged) => judged,
            None => self.judge(tokenizer, gold, held_out, eval)?,
        };
        Ok((stats, judged))
    }

    /// Ziegler et al.'s controller: `kl_coef *= 1 + clip(kl / target - 1, -0.2, 0.2) * n / horizon`.
    fn adapt_kl_coef(&mut self, kl: f64, continuations: usize) {
        if self.config.target_kl > 0.0 {
            let error = (kl / self.config.target_kl - 1.0).clamp(-0.2, 0.2);
            self.kl_coef *= 1.0 + error * continuations as f64 / self.config.kl_horizon;
        }
    }

    // -----------------------------------------------------------------------------------------------------------
    // A rollout: continuations, their scores, per-token rewards and advantages.
    // -----------------------------------------------------------------------------------------------------------

    fn rollout(
        &self,
        prompts: &[&[i64]],
        tokenizer: &Bpe,
        gold: &GoldReward,
        rng: &mut rand_pcg::Pcg64,
    ) -> Result<(Rollout, IterationStats)> {
        let cfg = &self.config;
        let device = self.policy.device();
        let sampling = Sampling { temperature: cfg.temperature, top_k: None };
        let owned: Vec<Vec<i64>> = prompts.iter().map(|p| p.to_vec()).collect();
        let room =
            (self.policy.config.block_size as usize).saturating_sub(owned.iter().map(Vec::len).max().unwrap_or(0));
        let responses = self
            .policy
            .generate(&owned, self.max_new_tokens.min(room), sampling, &self.stop, rng)
            .map_err(|e| AgentError::Runtime(e.to_string()))?;
        let rows: Vec<(&[i64], &[i64])> = prompts.iter().copied().zip(responses.iter().map(Vec::as_slice)).collect();
        let (input, target) = super::sft::batch(&rows, device); // (B, L) each
        let mask = target.ne(-1).to_kind(Kind::Float); // (B, L)

        // Scores: the reward model on prompt + continuation, the penalty for a continuation that never ends.
        let sequences: Vec<Vec<i64>> = rows.iter().map(|(p, r)| [*p, *r].concat()).collect();
        let ended: Vec<bool> = responses.iter().map(|r| r.last().is_some_and(|t| self.stop.contains(t))).collect();
        let proxy = to_vec_f32(&tch::no_grad(|| self.reward.scores(&sequences, false))); // [B]
        let scores: Vec<f32> = proxy
            .iter()
            .zip(&ended)
            .map(|(&s, &end)| if end { s } else { s - cfg.missing_end_penalty as f32 })
            .collect();

        // Log-probabilities and values at sampling time, without dropout.
        let (log_probs, ref_log_probs, values) = tch::no_grad(|| {
            let (log_probs, hidden) = token_logprobs(&self.policy, &input, &target, cfg.temperature);
            let (ref_log_probs, _) = token_logprobs(&self.reference, &input, &target, cfg.temperature);
            (log_probs, ref_log_probs, self.values(&hidden) * &mask)
        });

        // Per-token rewards and GAE, row by row over the continuation's positions (CPU vectors of B x L).
        let width = input.size()[1] as usize;
        let (lp, rp, v) = (to_vec_f32(&log_probs), to_vec_f32(&ref_log_probs), to_vec_f32(&values));
        let (mut advantages, mut returns) = (vec![0f32; lp.len()], vec![0f32; lp.len()]);
        let (mut kl, mut k3) = (0.0f64, 0.0f64);
        for (r, (prompt, response)) in rows.iter().enumerate() {
            let span = r * width + prompt.len() - 1..r * width + prompt.len() - 1 + response.len();
            let mut rewards: Vec<f32> = Vec::with_capacity(response.len());
            for i in span.clone() {
                let log_ratio = lp[i] - rp[i];
                kl += log_ratio as f64;
                k3 += ((-log_ratio).exp() - 1.0 + log_ratio) as f64;
                rewards.push(-(self.kl_coef as f32) * log_ratio);
            }
            *rewards.last_mut().expect("a continuation has a token") += scores[r];
            let (adv, ret) = gae(&rewards, &v[span.clone()], cfg.gamma as f32, cfg.lam as f32);
            advantages[span.clone()].copy_from_slice(&adv);
            returns[span].copy_from_slice(&ret);
        }
        let shape = input.size();
        let tensor = |x: &[f32]| Tensor::from_slice(x).view([shape[0], shape[1]]).to_device(device);
        let advantages = whiten(&tensor(&advantages), &mask);

        let n = rows.len() as f64;
        let mean = |xs: &[f32]| xs.iter().map(|&x| x as f64).sum::<f64>() / n;
        let texts: Vec<String> = responses.iter().map(|r| tokenizer.decode(r)).collect();
        let stats = IterationStats {
            proxy_reward: mean(&proxy),
            gold_reward: texts.iter().map(|t| gold.score(t).total).sum::<f64>() / n,
            kl: kl / n,
            kl_k3: k3 / n,
            non_score_reward: -self.kl_coef * kl / n,
            end_rate: ended.iter().filter(|&&e| e).count() as f64 / n,
            response_tokens: responses.iter().map(Vec::len).sum::<usize>() as f64 / n,
            ..IterationStats::default()
        };
        let rollout = Rollout { input, target, mask, log_probs, values, advantages, returns: tensor(&returns) };
        Ok((rollout, stats))
    }

    /// V(s) at every position (B, L) from the final hidden states (B, L, C).
    fn values(&self, hidden: &Tensor) -> Tensor {
        self.value_head.forward(hidden).squeeze_dim(-1)
    }

    // -----------------------------------------------------------------------------------------------------------
    // The update: ppo_epochs over shuffled minibatches of the iteration's continuations.
    // -----------------------------------------------------------------------------------------------------------

    fn update(
        &mut self,
        rollout: &Rollout,
        stats: &mut IterationStats,
        rng: &mut rand_pcg::Pcg64,
        logger: &mut Logger,
    ) -> Result<()> {
        let cfg = self.config.clone();
        let device = self.policy.device();
        let mut order: Vec<i64> = (0..rollout.input.size()[0]).collect();
        let mut sums = [0.0f64; 5];
        let mut steps = 0usize;
        for _ in 0..cfg.ppo_epochs {
            order.shuffle(rng);
            for chunk in order.chunks(cfg.minibatch_size) {
                let index = Tensor::from_slice(chunk).to_device(device);
                let rows = |t: &Tensor| t.index_select(0, &index);
                let mb = Rollout {
                    input: rows(&rollout.input),
                    target: rows(&rollout.target),
                    mask: rows(&rollout.mask),
                    log_probs: rows(&rollout.log_probs),
                    values: rows(&rollout.values),
                    advantages: rows(&rollout.advantages),
                    returns: rows(&rollout.returns),
                };
                let losses = self.minibatch_loss(&mb);
                let (lr, clip, policy) = (cfg.learning_rate, cfg.grad_clip, cfg.nan_policy);
                // Skipped steps are reported at the iteration this update makes.
                let counters = (self.iteration + 1, &mut self.skipped);
                if super::guarded_step(&mut self.optimizer, &losses.loss, lr, clip, policy, counters, logger)?.is_some()
                {
                    let terms = [
                        losses.policy_loss,
                        losses.value_loss,
                        losses.approx_kl,
                        losses.clip_fraction,
                        losses.value_clip_fraction,
                    ];
                    sums.iter_mut().zip(terms).for_each(|(s, t)| *s += t);
                    steps += 1;
                }
            }
        }
        let n = steps.max(1) as f64;
        stats.policy_loss = sums[0] / n;
        stats.value_loss = sums[1] / n;
        stats.approx_kl = sums[2] / n;
        stats.clip_fraction = sums[3] / n;
        stats.value_clip_fraction = sums[4] / n;
        Ok(())
    }

    /// The loss of one minibatch: the clipped policy loss plus `vf_coef` times the clipped value loss, both means
    /// over the continuations' tokens.
    pub fn minibatch_loss(&self, mb: &Rollout) -> PpoLosses {
        let cfg = &self.config;
        let (log_probs, hidden) = token_logprobs(&self.policy, &mb.input, &mb.target, cfg.temperature);
        let values = self.values(&hidden); // (B, L)
        ppo_losses(&log_probs, &values, mb, cfg.clip_range, cfg.clip_range_value, cfg.vf_coef)
    }

    // -----------------------------------------------------------------------------------------------------------
    // Evaluation.
    // -----------------------------------------------------------------------------------------------------------

    /// The policy's continuations of the held-out `prompts` judged by the gold reward, with the reward model's mean
    /// score of them (the proxy) and their KL to the reference.
    pub fn judge(&self, tokenizer: &Bpe, gold: &GoldReward, prompts: &[String], eval: &EvalConfig) -> Result<Judged> {
        let models = (&self.policy, &self.reference, &self.reward);
        super::eval::judge(models, tokenizer, gold, prompts, eval, self.seed)
    }

    // -----------------------------------------------------------------------------------------------------------
    // Checkpoints.
    // -----------------------------------------------------------------------------------------------------------

    pub fn save(&self, path: &Path) -> Result<()> {
        let state = serde_json::json!({
            "algo": "rlhf",
            "env_id": "ppo",
            "iteration": self.iteration,
            "kl_coef": self.kl_coef,
            "skipped_updates": self.skipped,
        });
        crate::checkpoint::save_trained(path, &self.vs, &self.optimizer, state)
    }

    pub fn load(&mut self, path: &Path) -> Result<()> {
        let state = crate::checkpoint::load_trained(path, &self.vs, Some(&mut self.optimizer), "rlhf", "ppo")?;
        let missing = |key: &str| AgentError::Checkpoint {
            path: path.display().to_string(),
            reason: format!("state field `{key}` missing"),
        };
        self.iteration = state["iteration"].as_u64().ok_or_else(|| missing("iteration"))?;
        self.kl_coef = state["kl_coef"].as_f64().ok_or_else(|| missing("kl_coef"))?;
        self.skipped = state["skipped_updates"].as_u64().ok_or_else(|| missing("skipped_updates"))?;
        Ok(())
    }
}

/// An iteration's continuations as right-padded rows of L positions: position t of a row predicts token t + 1 of
/// prompt + continuation, and the masked positions are those that predict a continuation token. All (B, L).
pub struct Rollout {
    /// Token ids (i64).
    pub input: Tensor,
    /// The continuation token each position predicts, -1 elsewhere (i64).
    pub target: Tensor,
    /// 1.0 where `target` is a continuation token.
    pub mask: Tensor,
    /// log π of the targets at sampling time (temperature applied), 0 elsewhere.
    pub log_probs: Tensor,
    /// V at sampling time, 0 elsewhere.
    pub values: Tensor,
    /// GAE advantages, whitened over the batch's tokens.
    pub advantages: Tensor,
    /// advantages (before whitening) + values.
    pub returns: Tensor,
}

/// A minibatch's loss and what is logged of it.
pub struct PpoLosses {
    pub loss: Tensor,
    pub policy_loss: f64,
    pub value_loss: f64,
    /// `0.5 mean((log π - log π_old)^2)`, TRL's.
    pub approx_kl: f64,
    pub clip_fraction: f64,
    pub value_clip_fraction: f64,
}

// ---------------------------------------------------------------------------------------------------------------
// The pieces, each testable by hand.
// ---------------------------------------------------------------------------------------------------------------

/// Log-probabilities (B, L) of `target` under `model` at `temperature` (0 where the target is -1), and the final
/// hidden states (B, L, C). No dropout: PPO's ratio must be 1 before the first step.
pub fn token_logprobs(model: &Gpt, input: &Tensor, target: &Tensor, temperature: f64) -> (Tensor, Tensor) {
    let hidden = model.hidden(input, None, None, false); // right padding: causal attention keeps it out
    let log_p = (model.logits(&hidden) / temperature).log_softmax(-1, Kind::Float); // (B, L, V)
    let picked = log_p.gather(2, &target.clamp_min(0).unsqueeze(-1), false).squeeze_dim(-1); // (B, L)
    (picked * target.ne(-1).to_kind(Kind::Float), hidden)
}

/// GAE over one continuation's tokens, which end the episode (no bootstrap after the last): advantages and returns
/// (`advantage + value`).
pub fn gae(rewards: &[f32], values: &[f32], gamma: f32, lam: f32) -> (Vec<f32>, Vec<f32>) {
    let mut advantages = vec![0f32; rewards.len()];
    let mut running = 0f32;
    for t in (0..rewards.len()).rev() {
        let next_value = values.get(t + 1).copied().unwrap_or(0.0);
        let delta = rewards[t] + gamma * next_value - values[t];
        running = delta + gamma * lam * running;
        advantages[t] = running;
    }
    let returns = advantages.iter().zip(values).map(|(a, v)| a + v).collect();
    (advantages, returns)
}

/// `x` whitened over the positions where `mask` is 1 (mean 0, unbiased variance 1); 0 elsewhere.
pub fn whiten(x: &Tensor, mask: &Tensor) -> Tensor {
    let n = mask.sum(Kind::Float);
    let mean = (x * mask).sum(Kind::Float) / &n;
    let centered = (x - &mean) * mask;
    let var = centered.square().sum(Kind::Float) / (&n - 1.0).clamp_min(1.0);
    centered / (var + 1e-8).sqrt()
}

fn masked_mean(x: &Tensor, mask: &Tensor) -> Tensor {
    (x * mask).sum(Kind::Float) / mask.sum(Kind::Float)
}

/// The clipped policy and value losses of a minibatch from the new log-probabilities and values (B, L).
pub fn ppo_losses(
    log_probs: &Tensor,
    values: &Tensor,
    mb: &Rollout,
    clip_range: f64,
    clip_range_value: f64,
    vf_coef: f64,
) -> PpoLosses {
    let mask = &mb.mask;
    let log_ratio = log_probs - &mb.log_probs;
    let ratio = log_ratio.exp();
    let unclipped = -&mb.advantages * &ratio;
    let clipped = -&mb.advantages * ratio.clamp(1.0 - clip_range, 1.0 + clip_range);
    let policy_loss = masked_mean(&unclipped.max_other(&clipped), mask);
    let values_clipped = values.clamp_tensor(Some(&mb.values - clip_range_value), Some(&mb.values + clip_range_value));
    let value_errors = (values - &mb.returns).square();
    let clipped_errors = (&values_clipped - &mb.returns).square();
    let value_loss = masked_mean(&value_errors.max_other(&clipped_errors), mask) * 0.5;
    let loss = &policy_loss + &value_loss * vf_coef;
    let scalar = |t: &Tensor| t.double_value(&[]);
    let (approx_kl, clip_fraction, value_clip_fraction) = tch::no_grad(|| {
        (
            scalar(&(masked_mean(&log_ratio.square(), mask) * 0.5)),
            scalar(&masked_mean(&(&ratio - 1.0).abs().gt(clip_range).to_kind(Kind::Float), mask)),
            scalar(&masked_mean(&clipped_errors.gt_tensor(&value_errors).to_kind(Kind::Float), mask)),
        )
    });
    PpoLosses {
        policy_loss: scalar(&policy_loss),
        value_loss: scalar(&value_loss),
        loss,
        approx_kl,
        clip_fraction,
        value_clip_fraction,
    }
}

fn log_iteration(logger: &mut Logger, s: &IterationStats, kl_coef: f64, step: u64) {
    logger.scalar("rlhf/proxy_reward", s.proxy_reward, step);
    logger.scalar("rlhf/gold_reward", s.gold_reward, step);
    logger.scalar("rlhf/kl", s.kl, step);
    logger.scalar("rlhf/kl_k3", s.kl_k3, step);
    logger.scalar("rlhf/kl_coef", kl_coef, step);
    logger.scalar("rlhf/non_score_reward", s.non_score_reward, step);
    logger.scalar("rlhf/end_rate", s.end_rate, step);
    logger.scalar("rlhf/response_tokens", s.response_tokens, step);
    logger.scalar("losses/policy_loss", s.policy_loss, step);
    logger.scalar("losses/value_loss", s.value_loss, step);
    logger.scalar("losses/approx_kl", s.approx_kl, step);
    logger.scalar("losses/clipfrac", s.clip_fraction, step);
    logger.scalar("losses/value_clipfrac", s.value_clip_fraction, step);
}

/// Logs a held-out judgement as `eval/gold_reward`, `eval/proxy_reward`, `eval/kl`, `eval/end_rate` and
/// `eval/distinct_2`.
pub fn log_judgement(logger: &mut Logger, judged: &Judged, step: u64) {
    logger.scalar("eval/gold_reward", judged.policy.gold_reward, step);
    logger.scalar("eval/proxy_reward", judged.proxy_reward, step);
    logger.scalar("eval/kl", judged.kl, step);
    logger.scalar("eval/end_rate", judged.policy.end_rate, step);
    logger.scalar("eval/distinct_2", judged.policy.distinct_2, step);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// gamma 1, lambda 0.5; rewards [0, 0, 1], values [0.5, 0.25, 0.5]:
    /// deltas [0 + 0.25 - 0.5, 0 + 0.5 - 0.25, 1 + 0 - 0.5] = [-0.25, 0.25, 0.5];
    /// A2 = 0.5, A1 = 0.25 + 0.5 * 0.5 = 0.5, A0 = -0.25 + 0.5 * 0.5 = 0; returns = A + V.
    #[test]
    fn gae_by_hand() {
        let (adv, ret) = gae(&[0.0, 0.0, 1.0], &[0.5, 0.25, 0.5], 1.0, 0.5);
        assert_eq!(adv, [0.0, 0.5, 0.5]);
        assert_eq!(ret, [0.5, 0.75, 1.0]);
        // lambda 1, gamma 1: the advantage is the return to go minus the value.
        let (adv, _) = gae(&[1.0, 2.0], &[0.0, 0.0], 1.0, 1.0);
        assert_eq!(adv, [3.0, 2.0]);
    }

    #[test]
    fn whitening_ignores_the_masked_positions() {
        let x = Tensor::from_slice(&[1.0f32, 2.0, 100.0, 3.0]).view([2, 2]);
        let mask = Tensor::from_slice(&[1.0f32, 1.0, 0.0, 1.0]).view([2, 2]);
        let w = to_vec_f32(&whiten(&x, &mask));
        // Over [1, 2, 3]: mean 2, unbiased variance 1.
        let want = [-1.0, 0.0, 0.0, 1.0];
        assert!(w.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-5), "{w:?}");
    }

    /// One row, two tokens; advantages [1, -1], old log-probs 0, new [ln 1.5, ln 0.5] (ratios 1.5 and 0.5),
    /// clip 0.2: per token max(-A r, -A clip(r)) = max(-1.5, -1.2) = -1.2 and max(0.5, 0.8) = 0.8; mean -0.2.
    /// Values: old [0, 0], new [0.5, -0.1], returns [1, 0], value clip 0.2: errors max((0.5 - 1)^2,
    /// (0.2 - 1)^2) = 0.64 and max(0.01, 0.01) = 0.01; 0.5 * mean = 0.1625. Loss -0.2 + 0.1 * 0.1625.
    #[test]
    fn clipped_losses_by_hand() {
        let t = |v: [f32; 2]| Tensor::from_slice(&v).view([1, 2]);
        let mb = Rollout {
            input: Tensor::zeros([1, 2], (Kind::Int64, Device::Cpu)),
            target: Tensor::zeros([1, 2], (Kind::Int64, Device::Cpu)),
            mask: t([1.0, 1.0]),
            log_probs: t([0.0, 0.0]),
            values: t([0.0, 0.0]),
            advantages: t([1.0, -1.0]),
            returns: t([1.0, 0.0]),
        };
        let out = ppo_losses(&t([1.5f32.ln(), 0.5f32.ln()]), &t([0.5, -0.1]), &mb, 0.2, 0.2, 0.1);
        assert!((out.policy_loss - -0.2).abs() < 1e-6, "{}", out.policy_loss);
        assert!((out.value_loss - 0.1625).abs() < 1e-6, "{}", out.value_loss);
        assert!((out.loss.double_value(&[]) - (-0.2 + 0.01625)).abs() < 1e-6);
        assert_eq!((out.clip_fraction, out.value_clip_fraction), (1.0, 0.5));
        let kl = 0.25 * (1.5f64.ln().powi(2) + 0.5f64.ln().powi(2));
        assert!((out.approx_kl - kl).abs() < 1e-6);
    }
}
