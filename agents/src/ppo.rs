//! Proximal Policy Optimization (Schulman et al. 2017), as Stable-Baselines3 implements it.
//!
//! Every detail that changes results follows SB3 2.x: GAE(lambda) with TD(lambda) returns, per-minibatch advantage
//! normalization, the clipped surrogate, optional value clipping (`clip_range_vf`), entropy and value
//! coefficients, global-norm gradient clipping, Adam with eps 1e-5, constant or linear schedules for the learning
//! rate and clip range (evaluated at the progress after each rollout), `target_kl` early stopping
//! (`approx_kl > 1.5 * target_kl`), SB3's orthogonal initialization, and time-limit bootstrapping: when an episode
//! is truncated (not terminated), `gamma * V(final_obs)` is added to its last reward.
//!
//! The file reads top to bottom: config, the agent, rollout collection, the update, checkpoints.

use crate::checkpoint;
use crate::device::DeviceChoice;
use crate::guard::{self, NanPolicy};
use crate::logger::Logger;
use crate::policy::{ActorCritic, PolicyConfig};
use crate::schedule::Schedule;
use crate::{AgentError, Result};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rlx_envs::atari::{FramePipeline, StackPadding};
use rlx_envs::vector::VecEnv;
use rlx_envs::Snapshot;
use rlx_models::{to_vec_f32, Adam, AdamConfig};
use rlx_replay::RolloutBuffer;
use std::path::Path;
use tch::{Device, Kind, Tensor};

// ---------------------------------------------------------------------------------------------------------------
// Configuration: SB3's defaults; rl-zoo3's tuned values live in presets/ppo/*.toml.
// ---------------------------------------------------------------------------------------------------------------

/// Everything a PPO run needs. Field defaults are SB3's `PPO` and `MlpPolicy` defaults.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PpoConfig {
    /// Gymnasium id of the environment (default "CartPole-v1").
    pub env_id: String,
    /// Seed of the envs (env i gets seed + i), the network initialization and the sampling (default 0).
    pub seed: u64,
    /// Parallel envs (default 1).
    pub n_envs: usize,
    /// Threads stepping the envs: 1 = on the training thread (default 1), more = a threaded pool.
    pub env_threads: usize,
    /// Environment steps to train for, over all envs (default 1e6).
    pub total_timesteps: u64,
    /// auto, cpu or cuda (default auto).
    pub device: DeviceChoice,
    /// LibTorch intra-op threads; 0 = auto (default): 1 for MLP policies on the CPU, whose tiny operations only
    /// pay threading overhead, LibTorch's default (one per core) otherwise.
    pub torch_threads: usize,
    /// Normalize observations with running statistics shared by all envs (SB3 VecNormalize; default false).
    pub normalize_obs: bool,
    /// Scale rewards by the running std of the discounted return (SB3 VecNormalize, with this gamma; default false).
    pub normalize_reward: bool,
    /// Atari frames: "sb3" (SB3's AtariWrapper bytes: RGB max-pool + OpenCV luma) or "ale" (ALE's grayscale, as
    /// Gymnasium's AtariPreprocessing and EnvPool); ignored for vector observations (default sb3).
    pub frame_pipeline: FramePipeline,
    /// Atari: what the frame stack's older slots hold after a reset, "reset" (the reset frame: Gymnasium, CleanRL)
    /// or "zeros" (SB3's VecFrameStack); ignored for vector observations (default reset).
    pub stack_padding: StackPadding,

    /// Learning rate: a number or "lin_<start>" (default 3e-4).
    pub learning_rate: Schedule,
    /// Steps per env per rollout (default 2048).
    pub n_steps: usize,
    /// Minibatch size (default 64); larger than the rollout means one minibatch of the whole rollout, as in SB3.
    pub batch_size: usize,
    /// Passes over each rollout (default 10).
    pub n_epochs: usize,
    /// Discount factor (default 0.99).
    pub gamma: f64,
    /// GAE lambda (default 0.95).
    pub gae_lambda: f64,
    /// Policy clipping range: a number or "lin_<start>" (default 0.2).
    pub clip_range: Schedule,
    /// Value clipping range around the old values; unset = no value clipping (default unset).
    pub clip_range_vf: Option<Schedule>,
    /// Normalize advantages per minibatch (default true).
    pub normalize_advantage: bool,
    /// Entropy bonus coefficient (default 0.0).
    pub ent_coef: f64,
    /// Value loss coefficient (default 0.5).
    pub vf_coef: f64,
    /// Gradient clipping by global norm (default 0.5).
    pub max_grad_norm: f64,
    /// Stop the epochs of an update when approx_kl > 1.5 * target_kl; unset = never (default unset).
    pub target_kl: Option<f64>,
    /// A non-finite loss or gradient: "error" stops training (default), "skip" skips that minibatch's update.
    pub nan_policy: NanPolicy,

    /// Actor and critic hidden layers for vector observations (default [64, 64] each).
    pub net_arch_pi: Vec<i64>,
    pub net_arch_vf: Vec<i64>,
    /// Hidden activation: "tanh" or "relu" (default tanh).
    pub activation: rlx_models::Activation,
    /// SB3's orthogonal initialization (default true).
    pub ortho_init: bool,
    /// Initial log std of Gaussian policies (default 0.0).
    pub log_std_init: f64,
    /// NatureCNN's arithmetic (image observations): "f32" (default) or "bf16" (mixed precision, f32 weights and
    /// optimizer; fast on CPUs with AVX-512 BF16 or AMX).
    pub precision: rlx_models::Precision,

    /// Write a checkpoint every this many env steps (at the end of the update that crosses it) and at the end;
    /// 0 = only at the end (default 100000).
    pub checkpoint_interval: u64,
}

impl Default for PpoConfig {
    fn default() -> Self {
        let policy = PolicyConfig::default();
        PpoConfig {
            env_id: "CartPole-v1".into(),
            seed: 0,
            n_envs: 1,
            env_threads: 1,
            total_timesteps: 1_000_000,
            device: DeviceChoice::Auto,
            torch_threads: 0,
            normalize_obs: false,
            normalize_reward: false,
            frame_pipeline: FramePipeline::Sb3,
            stack_padding: StackPadding::Reset,
            learning_rate: Schedule::Constant(3e-4),
            n_steps: 2048,
            batch_size: 64,
            n_epochs: 10,
            gamma: 0.99,
            gae_lambda: 0.95,
            clip_range: Schedule::Constant(0.2),
            clip_range_vf: None,
            normalize_advantage: true,
            ent_coef: 0.0,
            vf_coef: 0.5,
            max_grad_norm: 0.5,
            target_kl: None,
            nan_policy: NanPolicy::Error,
            net_arch_pi: policy.net_arch_pi,
            net_arch_vf: policy.net_arch_vf,
            activation: policy.activation,
            ortho_init: policy.ortho_init,
            log_std_init: policy.log_std_init,
            precision: policy.precision,
            checkpoint_interval: 100_000,
        }
    }
}

impl PpoConfig {
    /// Rejects values SB3 would reject or that cannot train.
    pub fn validate(&self) -> Result<()> {
        let bad = |msg: String| Err(AgentError::Config(msg));
        if self.n_envs == 0 || self.n_steps == 0 || self.n_epochs == 0 || self.env_threads == 0 {
            return bad("n_envs, n_steps, n_epochs and env_threads must be at least 1".into());
        }
        if self.batch_size < 2 && self.normalize_advantage {
            return bad(format!(
                "batch_size = {}: advantage normalization needs minibatches of at least 2",
                self.batch_size
            ));
        }
        for (name, v) in [("gamma", self.gamma), ("gae_lambda", self.gae_lambda)] {
            if !(0.0..=1.0).contains(&v) {
                return bad(format!("{name} = {v} must be in [0, 1]"));
            }
        }
        for (name, s) in [
            ("learning_rate", Some(self.learning_rate)),
            ("clip_range", Some(self.clip_range)),
            ("clip_range_vf", self.clip_range_vf),
        ] {
            if let Some(s) = s {
                if !(s.initial() > 0.0 && s.initial().is_finite()) {
                    return bad(format!("{name} = {s} must be positive"));
                }
            }
        }
        if self.max_grad_norm.is_nan() || self.max_grad_norm <= 0.0 || self.ent_coef < 0.0 || self.vf_coef < 0.0 {
            return bad("max_grad_norm must be positive; ent_coef and vf_coef non-negative".into());
        }
        if self.total_timesteps == 0 {
            return bad("total_timesteps must be positive".into());
        }
        Ok(())
    }

    /// The policy network's settings.
    pub fn policy(&self) -> PolicyConfig {
        PolicyConfig {
            net_arch_pi: self.net_arch_pi.clone(),
            net_arch_vf: self.net_arch_vf.clone(),
            activation: self.activation,
            ortho_init: self.ortho_init,
            log_std_init: self.log_std_init,
            precision: self.precision,
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// The loss, on its own so it can be checked against PyTorch.
// ---------------------------------------------------------------------------------------------------------------

/// The PPO objective on one minibatch. All tensors are (B,).
pub struct LossInputs<'a> {
    pub log_prob: &'a Tensor,
    pub old_log_prob: &'a Tensor,
    pub advantages: &'a Tensor,
    pub values: &'a Tensor,
    pub old_values: &'a Tensor,
    pub returns: &'a Tensor,
    pub entropy: &'a Tensor,
}

pub struct Losses {
    /// policy_loss + ent_coef * entropy_loss + vf_coef * value_loss (differentiable).
    pub loss: Tensor,
    pub policy_loss: f64,
    pub value_loss: f64,
    /// -mean(entropy), as SB3 logs it.
    pub entropy_loss: f64,
    /// mean((r - 1) - log r), SB3's estimator.
    pub approx_kl: f64,
    pub clip_fraction: f64,
}

/// SB3's `PPO.train` loss for one minibatch.
pub fn ppo_loss(
    x: &LossInputs<'_>,
    clip_range: f64,
    clip_range_vf: Option<f64>,
    ent_coef: f64,
    vf_coef: f64,
    normalize_advantage: bool,
) -> Losses {
    let advantages = if normalize_advantage && x.advantages.numel() > 1 {
        (x.advantages - x.advantages.mean(Kind::Float)) / (x.advantages.std(true) + 1e-8)
    } else {
        x.advantages.shallow_clone()
    };
    let log_ratio = x.log_prob - x.old_log_prob;
    let ratio = log_ratio.exp();
    let surrogate = (&advantages * &ratio).min_other(&(&advantages * ratio.clamp(1.0 - clip_range, 1.0 + clip_range)));
    let policy_loss = -surrogate.mean(Kind::Float);
    let values_pred = match clip_range_vf {
        None => x.values.shallow_clone(),
        Some(c) => x.old_values + (x.values - x.old_values).clamp(-c, c),
    };
    let value_loss = (x.returns - values_pred).square().mean(Kind::Float);
    let entropy_loss = -x.entropy.mean(Kind::Float);
    let loss = &policy_loss + &entropy_loss * ent_coef + &value_loss * vf_coef;
    let (approx_kl, clip_fraction) = tch::no_grad(|| {
        let kl = ((&ratio - 1.0) - &log_ratio).mean(Kind::Float).double_value(&[]);
        let clipped = (&ratio - 1.0).abs().gt(clip_range).to_kind(Kind::Float).mean(Kind::Float).double_value(&[]);
        (kl, clipped)
    });
    Losses {
        policy_loss: policy_loss.double_value(&[]),
        value_loss: value_loss.double_value(&[]),
        entropy_loss: entropy_loss.double_value(&[]),
        loss,
        approx_kl,
        clip_fraction,
    }
}

// ---------------------------------------------------------------------------------------------------------------
// The agent.
// ---------------------------------------------------------------------------------------------------------------

/// Observation element types the agent can turn into tensors (f32 vectors, u8 frames).
pub trait ObsElement: tch::kind::Element + Copy + Default + Send + Sync + 'static {}
impl<T: tch::kind::Element + Copy + Default + Send + Sync + 'static> ObsElement for T {}

/// Rows of the rollout for one gradient step, on the policy's device: `obs` (B, *obs_shape), `actions`
/// (B, action_len), the rest (B,).
pub struct Minibatch {
    pub obs: Tensor,
    pub actions: Tensor,
    pub old_log_prob: Tensor,
    pub advantages: Tensor,
    pub old_values: Tensor,
    pub returns: Tensor,
}

/// A PPO learner bound to its vector env. Its state is public so tests can replay an update in SB3.
pub struct Ppo<V: VecEnv> {
    pub config: PpoConfig,
    pub env: V,
    pub policy: ActorCritic,
    pub optimizer: Adam,
    /// The last rollout, step-major (row = step * n_envs + env), with its advantages and returns.
    pub buffer: RolloutBuffer<V::Obs>,
    device: Device,
    /// Draws actions and minibatch orders; saved in checkpoints.
    pub rng: rand_pcg::Pcg64,
    pub global_step: u64,
    pub iteration: u64,
    /// The envs' current observations (n_envs * obs_len) and whether each starts an episode.
    pub last_obs: Vec<V::Obs>,
    pub last_episode_starts: Vec<bool>,
    next_checkpoint: u64,
    /// Updates skipped for a non-finite loss or gradient (`nan_policy = "skip"`), this session.
    pub skipped_updates: u64,
}

impl<V: VecEnv> Ppo<V>
where
    V::Obs: ObsElement,
{
    /// Builds the policy (seeded with `config.seed`) and resets the envs.
    pub fn new(config: PpoConfig, mut env: V) -> Result<Self> {
        config.validate()?;
        crate::check_n_envs(env.num_envs(), config.n_envs)?;
        let device = config.device.resolve()?;
        if config.torch_threads > 0 {
            tch::set_num_threads(config.torch_threads as i32);
        }
        tch::manual_seed(config.seed as i64);
        let policy =
            ActorCritic::new(env.single_observation_space(), env.single_action_space(), &config.policy(), device)?;
        let optimizer = Adam::new(&policy.vs, AdamConfig { eps: 1e-5, ..Default::default() });
        let obs_len = env.single_observation_space().flat_dim();
        let buffer = RolloutBuffer::new(config.n_steps, config.n_envs, obs_len, policy.action_kind.action_len());
        let last_obs = env.reset(Some(config.seed))?.obs.clone();
        let rng = rand_pcg::Pcg64::seed_from_u64(config.seed ^ 0x5EED_0F99);
        let next_checkpoint = config.checkpoint_interval;
        Ok(Ppo {
            last_episode_starts: vec![true; config.n_envs],
            config,
            env,
            policy,
            optimizer,
            buffer,
            device,
            rng,
            global_step: 0,
            iteration: 0,
            skipped_updates: 0,
            last_obs,
            next_checkpoint,
        })
    }

    /// Trains until `total_timesteps`, logging every update and checkpointing to `checkpoint_path` at the configured
    /// interval and at the end.
    pub fn learn(&mut self, logger: &mut Logger, checkpoint_path: Option<&Path>) -> Result<()> {
        let start_step = self.global_step;
        let started = std::time::Instant::now();
        while self.global_step < self.config.total_timesteps {
            // Where an iteration's time goes (the profile a speed comparison starts from): env stepping, the rest
            // of the rollout (the policy's forward passes, sampling, GAE), and the update.
            let rollout_started = std::time::Instant::now();
            let env_seconds = self.collect_rollouts(logger)?;
            let rollout_seconds = rollout_started.elapsed().as_secs_f64();
            let progress_remaining = 1.0 - self.global_step as f64 / self.config.total_timesteps as f64;
            let update_started = std::time::Instant::now();
            let stats = self.train(progress_remaining)?;
            let update_seconds = update_started.elapsed().as_secs_f64();
            self.iteration += 1;
            stats.log(logger, self.global_step);
            if self.skipped_updates > 0 {
                logger.scalar("charts/skipped_updates", self.skipped_updates as f64, self.global_step);
            }
            let sps = (self.global_step - start_step) as f64 / started.elapsed().as_secs_f64().max(1e-9);
            logger.scalar("charts/SPS", sps, self.global_step);
            logger.scalar("charts/env_step_seconds", env_seconds, self.global_step);
            logger.scalar("charts/rollout_seconds", rollout_seconds, self.global_step);
            logger.scalar("charts/update_seconds", update_seconds, self.global_step);
            logger.progress(self.global_step, sps);
            if let Some(path) = checkpoint_path {
                if self.config.checkpoint_interval > 0 && self.global_step >= self.next_checkpoint {
                    while self.next_checkpoint <= self.global_step {
                        self.next_checkpoint += self.config.checkpoint_interval;
                    }
                    self.save(path)?;
                }
            }
            // Ctrl-C or SIGTERM: stop between updates, where a checkpoint captures everything.
            if guard::interrupted() {
                if let Some(path) = checkpoint_path {
                    self.save(path)?;
                }
                logger.finish();
                return Err(AgentError::Interrupted { step: self.global_step });
            }
        }
        if let Some(path) = checkpoint_path {
            self.save(path)?;
        }
        logger.finish();
        Ok(())
    }

    /// `(rows, *obs_shape)` tensor of a batch of observations on the training device.
    fn obs_tensor(&self, obs: &[V::Obs], rows: i64) -> Tensor {
        self.policy.obs_tensor(obs, rows)
    }

    // -----------------------------------------------------------------------------------------------------------
    // Rollouts: n_steps of every env with the current policy.
    // -----------------------------------------------------------------------------------------------------------

    /// Fills the buffer and computes its advantages; returns the seconds spent inside `env.step`.
    pub fn collect_rollouts(&mut self, logger: &mut Logger) -> Result<f64> {
        let n = self.config.n_envs;
        let gamma = self.config.gamma as f32;
        let mut env_seconds = 0.0;
        self.buffer.reset();
        while !self.buffer.is_full() {
            let obs = self.obs_tensor(&self.last_obs, n as i64);
            let (actions, values, log_probs) = tch::no_grad(|| {
                let (dist, values) = self.policy.forward(&obs);
                let (actions, log_probs) = dist.sample_with_log_prob(&mut self.rng); // [n * action_len], [n]
                (actions, to_vec_f32(&values), log_probs)
            });

            // Gaussian actions go to the env unclipped: the env clips to its bounds (SB3 clips before stepping;
            // the buffer keeps the unclipped sample either way, so the log-prob stays exact).
            let mut discrete = Vec::new();
            let env_started = std::time::Instant::now();
            let batch = self.env.step(self.policy.action_kind.env_actions(&actions, &mut discrete))?;
            env_seconds += env_started.elapsed().as_secs_f64();
            self.global_step += n as u64;

            let mut rewards = batch.rewards.clone();
            // Time-limit bootstrapping: a truncated (not terminated) episode's last reward gets gamma * V(final obs).
            let truncated: Vec<usize> = (0..n).filter(|&i| batch.truncated[i] && !batch.terminated[i]).collect();
            if !truncated.is_empty() {
                let final_obs: Vec<V::Obs> =
                    truncated.iter().flat_map(|&i| batch.final_obs(i).iter().copied()).collect();
                let final_obs = self.policy.obs_tensor(&final_obs, truncated.len() as i64);
                let final_values = to_vec_f32(&tch::no_grad(|| self.policy.predict_values(&final_obs)));
                for (&i, v) in truncated.iter().zip(final_values) {
                    rewards[i] += gamma * v;
                }
            }
            for (i, info) in batch.infos.iter().enumerate() {
                if let Some(ep) = info.episode {
                    logger.episode(ep.ret, ep.len, self.global_step - (n - 1 - i) as u64);
                }
            }
            let dones: Vec<bool> = (0..n).map(|i| batch.done(i)).collect();
            let next_obs = batch.obs.clone();
            self.buffer.add(&self.last_obs, &actions, &rewards, &self.last_episode_starts, &values, &log_probs);
            self.last_obs = next_obs;
            self.last_episode_starts = dones;
        }
        let last_values =
            to_vec_f32(&tch::no_grad(|| self.policy.predict_values(&self.obs_tensor(&self.last_obs, n as i64))));
        self.buffer.compute_returns_and_advantage(
            &last_values,
            &self.last_episode_starts,
            gamma,
            self.config.gae_lambda as f32,
        );
        Ok(env_seconds)
    }

    // -----------------------------------------------------------------------------------------------------------
    // The update: n_epochs over shuffled minibatches of the rollout.
    // -----------------------------------------------------------------------------------------------------------

    /// One update from the buffer at `progress_remaining` (1 at the start of training, 0 at the end), which sets the
    /// scheduled learning rate and clip range.
    pub fn train(&mut self, progress_remaining: f64) -> Result<UpdateStats> {
        let cfg = &self.config;
        let (n_epochs, batch_size) = (cfg.n_epochs, cfg.batch_size);
        let lr = cfg.learning_rate.value(progress_remaining);
        let clip_range = cfg.clip_range.value(progress_remaining);
        let clip_range_vf = cfg.clip_range_vf.map(|s| s.value(progress_remaining));
        let size = (cfg.n_steps * cfg.n_envs) as i64;
        let b = &self.buffer;
        // The whole rollout as tensors: (N, *obs_shape), (N, action_len), (N,)...
        let obs = self.obs_tensor(&b.obs, size);
        let tensor = |v: &[f32]| Tensor::from_slice(v).to_device(self.device);
        let actions = tensor(&b.actions).reshape([size, b.action_len as i64]);
        let (old_values, old_log_probs, advantages, returns) =
            (tensor(&b.values), tensor(&b.log_probs), tensor(&b.advantages), tensor(&b.returns));
        let explained = explained_variance(&b.values, &b.returns);

        let (mut pg_losses, mut value_losses, mut entropy_losses, mut clip_fractions, mut approx_kls) =
            (vec![], vec![], vec![], vec![], vec![]);
        let mut indices: Vec<i64> = (0..size).collect();
        'epochs: for _epoch in 0..n_epochs {
            // SB3 reports the approximate KL of the last epoch only (the others' means over all epochs).
            approx_kls.clear();
            indices.shuffle(&mut self.rng);
            for chunk in indices.chunks(batch_size) {
                let idx = Tensor::from_slice(chunk).to_device(self.device);
                let rows = |t: &Tensor| t.index_select(0, &idx);
                let minibatch = Minibatch {
                    obs: rows(&obs),
                    actions: rows(&actions),
                    old_log_prob: rows(&old_log_probs),
                    advantages: rows(&advantages),
                    old_values: rows(&old_values),
                    returns: rows(&returns),
                };
                let (losses, stepped) = self.minibatch_step(&minibatch, lr, clip_range, clip_range_vf)?;
                pg_losses.push(losses.policy_loss);
                value_losses.push(losses.value_loss);
                entropy_losses.push(losses.entropy_loss);
                clip_fractions.push(losses.clip_fraction);
                approx_kls.push(losses.approx_kl);
                if !stepped {
                    break 'epochs;
                }
            }
        }

        let mean = |xs: &[f64]| if xs.is_empty() { f64::NAN } else { xs.iter().sum::<f64>() / xs.len() as f64 };
        Ok(UpdateStats {
            learning_rate: lr,
            clip_range,
            policy_loss: mean(&pg_losses),
            value_loss: mean(&value_losses),
            entropy: -mean(&entropy_losses),
            approx_kl: mean(&approx_kls),
            clip_fraction: mean(&clip_fractions),
            explained_variance: explained,
        })
    }

    /// The loss of one minibatch under the current policy (SB3's `evaluate_actions`, then [`ppo_loss`]).
    pub fn minibatch_loss(&self, mb: &Minibatch, clip_range: f64, clip_range_vf: Option<f64>) -> Losses {
        let (dist, values) = self.policy.forward(&mb.obs);
        let cfg = &self.config;
        ppo_loss(
            &LossInputs {
                log_prob: &dist.log_prob(&mb.actions),
                old_log_prob: &mb.old_log_prob,
                advantages: &mb.advantages,
                values: &values,
                old_values: &mb.old_values,
                returns: &mb.returns,
                entropy: &dist.entropy(),
            },
            clip_range,
            clip_range_vf,
            cfg.ent_coef,
            cfg.vf_coef,
            cfg.normalize_advantage,
        )
    }

    /// One minibatch of the update: its loss, then one optimizer step (gradients clipped to `max_grad_norm`),
    /// unless the approximate KL passed 1.5 `target_kl` (SB3's early stop: no step, and `false`). A non-finite
    /// loss or gradient is an error, or a skipped step under `nan_policy = "skip"`.
    pub fn minibatch_step(
        &mut self,
        mb: &Minibatch,
        lr: f64,
        clip_range: f64,
        clip_range_vf: Option<f64>,
    ) -> Result<(Losses, bool)> {
        let losses = self.minibatch_loss(mb, clip_range, clip_range_vf);
        let (policy, step) = (self.config.nan_policy, self.global_step);
        let loss = losses.loss.double_value(&[]);
        if !loss.is_finite() {
            guard::non_finite(policy, "the PPO loss", loss, step)?;
            self.skipped_updates += 1;
            return Ok((losses, true));
        }
        if self.config.target_kl.is_some_and(|kl| losses.approx_kl > 1.5 * kl) {
            return Ok((losses, false));
        }
        if let Err(norm) = self.optimizer.backward_step(&losses.loss, lr, Some(self.config.max_grad_norm)) {
            guard::non_finite(policy, "the PPO loss's gradient norm", norm, step)?;
            self.skipped_updates += 1;
        }
        Ok((losses, true))
    }

    // -----------------------------------------------------------------------------------------------------------
    // Acting and checkpoints.
    // -----------------------------------------------------------------------------------------------------------

    /// The policy's actions for a batch of observations: argmax/mean when `deterministic`, else samples.
    pub fn predict(&mut self, obs: &[V::Obs], rows: usize, deterministic: bool) -> Vec<f32> {
        let obs = self.obs_tensor(obs, rows as i64);
        tch::no_grad(|| {
            let (dist, _) = self.policy.forward(&obs);
            to_vec_f32(&if deterministic { dist.mode() } else { dist.sample(&mut self.rng) })
        })
    }

    /// Writes weights, optimizer moments, counters, the sampling generator, the last observations and the env
    /// snapshot (normalization statistics included) to `path`, atomically.
    pub fn save(&mut self, path: &Path) -> Result<()> {
        let mut tensors: Vec<(String, Tensor)> =
            self.policy.vs.variables().into_iter().map(|(n, t)| (format!("policy.{n}"), t)).collect();
        let (adam, adam_step) = self.optimizer.state();
        tensors.extend(adam.into_iter().map(|(n, t)| (format!("adam.{n}"), t)));
        tensors.push(("state.last_obs".into(), Tensor::from_slice(&self.last_obs)));
        let state = serde_json::json!({
            "algo": "ppo",
            "env_id": self.config.env_id,
            "global_step": self.global_step,
            "iteration": self.iteration,
            "adam_step": adam_step,
            "next_checkpoint": self.next_checkpoint,
            "rng": serde_json::to_string(&self.rng).expect("PCG state serializes"),
            "last_episode_starts": self.last_episode_starts,
            "env": self.env.snapshot()?,
        });
        checkpoint::save(path, &tensors, &state)
    }

    /// Restores everything `save` wrote; the config must be the one the checkpoint was trained with.
    pub fn load(&mut self, path: &Path) -> Result<()> {
        let loaded = checkpoint::load(path)?;
        let err = |reason: String| AgentError::Checkpoint { path: path.display().to_string(), reason };
        checkpoint::check_identity(&loaded.state, "ppo", &self.config.env_id).map_err(err)?;
        load_policy_weights(&mut self.policy, &loaded.tensors).map_err(err)?;
        let adam: std::collections::HashMap<String, Tensor> = loaded
            .tensors
            .iter()
            .filter_map(|(n, t)| n.strip_prefix("adam.").map(|k| (k.to_string(), t.shallow_clone())))
            .collect();
        let s = &loaded.state;
        let number = |key: &str| s[key].as_u64().ok_or_else(|| err(format!("state field `{key}` missing")));
        self.optimizer.load_state(&adam, number("adam_step")? as i64).map_err(err)?;
        self.global_step = number("global_step")?;
        self.iteration = number("iteration")?;
        self.next_checkpoint = number("next_checkpoint")?;
        self.rng = checkpoint::generator(s).ok_or_else(|| err("bad generator state".into()))?;
        self.last_episode_starts =
            serde_json::from_value(s["last_episode_starts"].clone()).map_err(|e| err(e.to_string()))?;
        let last_obs = loaded.tensors.get("state.last_obs").ok_or_else(|| err("last observations missing".into()))?;
        if last_obs.numel() != self.last_obs.len() || self.last_episode_starts.len() != self.config.n_envs {
            return Err(err("saved for a different number of envs or observation size".into()));
        }
        self.last_obs = Vec::<V::Obs>::try_from(last_obs).map_err(|e| err(e.to_string()))?;
        let env_snapshot: &Snapshot = &s["env"];
        self.env.restore(env_snapshot)?;
        Ok(())
    }
}

/// What one update did: its scheduled values and the means over its minibatches (what SB3 logs under `train/`).
#[derive(Debug, Clone, Copy)]
pub struct UpdateStats {
    pub learning_rate: f64,
    pub clip_range: f64,
    pub policy_loss: f64,
    pub value_loss: f64,
    /// The policy's mean entropy (SB3 logs its negative, `entropy_loss`).
    pub entropy: f64,
    /// Over the last epoch's minibatches, as SB3 reports it.
    pub approx_kl: f64,
    pub clip_fraction: f64,
    /// Of the rollout's values for its returns, before the update.
    pub explained_variance: f64,
}

impl UpdateStats {
    fn log(&self, logger: &mut Logger, step: u64) {
        logger.scalar("charts/learning_rate", self.learning_rate, step);
        logger.scalar("charts/clip_range", self.clip_range, step);
        logger.scalar("losses/policy_loss", self.policy_loss, step);
        logger.scalar("losses/value_loss", self.value_loss, step);
        logger.scalar("losses/entropy", self.entropy, step);
        logger.scalar("losses/approx_kl", self.approx_kl, step);
        logger.scalar("losses/clipfrac", self.clip_fraction, step);
        logger.scalar("losses/explained_variance", self.explained_variance, step);
    }
}

/// Copies `policy.<name>` tensors into the policy's variables; every variable must be present with its shape.
pub fn load_policy_weights(
    policy: &mut ActorCritic,
    tensors: &std::collections::HashMap<String, Tensor>,
) -> Result<(), String> {
    checkpoint::copy_weights(&policy.vs, tensors, "policy.")
}

/// 1 - Var(returns - values) / Var(returns): how much of the return variance the value function explains.
pub fn explained_variance(values: &[f32], returns: &[f32]) -> f64 {
    let var = |xs: &mut dyn Iterator<Item = f64>| {
        let v: Vec<f64> = xs.collect();
        let m = v.iter().sum::<f64>() / v.len() as f64;
        v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len() as f64
    };
    let var_y = var(&mut returns.iter().map(|&r| r as f64));
    if var_y == 0.0 {
        return f64::NAN;
    }
    1.0 - var(&mut returns.iter().zip(values).map(|(&r, &v)| (r - v) as f64)) / var_y
}
