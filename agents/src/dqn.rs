//! Deep Q-Networks (Mnih et al. 2015), as Stable-Baselines3 implements them, with the usual improvements as
//! options: Double DQN (van Hasselt et al. 2016), the dueling head (Wang et al. 2016), n-step returns and
//! prioritized replay (Schaul et al. 2016).
//!
//! The loop is SB3's, in SB3's order: act (uniformly at random before `learning_starts`, then epsilon-greedy with a
//! linearly decaying epsilon), step every env, store the transition (truncations are not terminations: the target
//! bootstraps from the true final observation), update the target network every `target_update_interval` env
//! steps (hard copy, or Polyak with `tau`), and every `train_freq` vector steps take `gradient_steps` gradient
//! steps on minibatches of `batch_size`. The replay ratio is fixed by these counts, not by timing.
//!
//! With `actor_thread`, an actor thread steps the envs with a copy of the online network (refreshed by counting
//! steps) and sends its transitions to the learner's replay buffer over a channel, while the learner trains: the
//! same counts, so the same replay ratio and the same result on any machine, without the learner waiting on envs.
//!
//! The file reads top to bottom: config, the TD loss, the agent (SB3's loop, the actor thread, learning),
//! checkpoints.

use crate::checkpoint;
use crate::device::DeviceChoice;
use crate::guard::{self, NanPolicy};
use crate::logger::Logger;
use crate::qnetwork::{QNetwork, QNetworkConfig};
use crate::schedule::Schedule;
use crate::{AgentError, Result};
use crossbeam_channel::Receiver;
use rand::{Rng, SeedableRng};
use rlx_envs::atari::{FramePipeline, StackPadding};
use rlx_envs::vector::{Actions, VecEnv};
use rlx_envs::{EpisodeStats, Snapshot};
use rlx_models::{AdamConfig, Optimizer, Precision, RmsPropConfig, Rule};
use rlx_replay::{Batch, Element, Padding, ReplayBuffer, ReplayConfig, ReplayWriter, SharedReplay, Step};
use std::collections::HashMap;
use std::path::Path;
use tch::{Device, Kind, Tensor};

// ---------------------------------------------------------------------------------------------------------------
// Configuration: SB3's `DQN` defaults; rl-zoo3's, CleanRL's and the Nature paper's settings live in presets/dqn/.
// ---------------------------------------------------------------------------------------------------------------

/// The TD loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TdLoss {
    /// Smooth L1 (SB3, Nature's error clipping to [-1, 1]).
    Huber,
    /// Mean squared error (CleanRL's `dqn_atari`, Dopamine's JAX DQN).
    Mse,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    Adam,
    /// `torch.optim.RMSprop` with `rmsprop_alpha`, `rmsprop_centered`, `rmsprop_momentum` and `optimizer_eps`.
    Rmsprop,
}

/// Everything a DQN run needs. Field defaults are SB3's `DQN` and `MlpPolicy` defaults.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DqnConfig {
    /// Gymnasium id of the environment (default "CartPole-v1").
    pub env_id: String,
    /// Seed of the envs (env i gets seed + i), the network initialization, exploration and sampling (default 0).
    pub seed: u64,
    /// Parallel envs (default 1).
    pub n_envs: usize,
    /// Threads stepping the envs: 1 = on the training thread (default 1), more = a threaded pool.
    pub env_threads: usize,
    /// Environment steps to train for, over all envs (default 1e6).
    pub total_timesteps: u64,
    /// auto, cpu or cuda (default auto).
    pub device: DeviceChoice,
    /// LibTorch intra-op threads; 0 = auto (default): 1 for MLP networks on the CPU, LibTorch's default otherwise.
    pub torch_threads: usize,
    /// Atari frames: "sb3" (SB3's AtariWrapper bytes) or "ale" (ALE's grayscale); ignored for vector observations
    /// (default sb3).
    pub frame_pipeline: FramePipeline,
    /// Atari: what the frame stack's older slots hold after a reset, "reset" (the reset frame: Gymnasium, CleanRL)
    /// or "zeros" (SB3's VecFrameStack); ignored for vector observations (default reset).
    pub stack_padding: StackPadding,

    /// Learning rate: a number or "lin_<start>" (default 1e-4).
    pub learning_rate: Schedule,
    /// Transitions the replay buffer holds (default 1e6).
    pub buffer_size: usize,
    /// Env steps of uniformly random actions before learning starts (default 100).
    pub learning_starts: u64,
    /// Minibatch size (default 32).
    pub batch_size: usize,
    /// Target update: 1 = hard copy, less = Polyak averaging `target = tau * online + (1 - tau) * target` (1.0).
    pub tau: f64,
    /// Discount factor (default 0.99).
    pub gamma: f64,
    /// Train every this many vector-env steps (default 4).
    pub train_freq: u64,
    /// Gradient steps per training round (default 1).
    pub gradient_steps: usize,
    /// Env steps between target updates (default 10000).
    pub target_update_interval: u64,
    /// Fraction of training over which epsilon decays linearly (default 0.1).
    pub exploration_fraction: f64,
    pub exploration_initial_eps: f64,
    /// Epsilon after the decay (default 0.05).
    pub exploration_final_eps: f64,
    /// Gradient clipping by global norm (default 10).
    pub max_grad_norm: f64,
    /// "huber" (default) or "mse".
    pub loss: TdLoss,
    /// "adam" (default) or "rmsprop".
    pub optimizer: OptimizerKind,
    /// Adam's or RMSprop's eps (default 1e-8, PyTorch's Adam default, which SB3's DQN uses).
    pub optimizer_eps: f64,
    /// RMSprop's squared-gradient decay (default 0.95, the Nature setting).
    pub rmsprop_alpha: f64,
    /// Centered RMSprop (default true, as DeepMind's).
    pub rmsprop_centered: bool,
    /// RMSprop momentum (default 0.0).
    pub rmsprop_momentum: f64,

    /// Double DQN: the online network picks the next action, the target network values it (default false).
    pub double_q: bool,
    /// Dueling head (default false).
    pub dueling: bool,
    /// n-step returns (default 1).
    pub n_step: usize,
    /// Prioritized replay (default false), with its alpha, beta annealed linearly from `per_beta0` to 1 over
    /// training, and the constant added to |TD error| (0.6, 0.4, 1e-6).
    pub prioritized: bool,
    pub per_alpha: f64,
    pub per_beta0: f64,
    pub per_eps: f64,

    /// Hidden layers (vector observations: SB3's [64, 64]; frames: after NatureCNN, [] as SB3's CnnPolicy).
    pub net_arch: Vec<i64>,
    /// "relu" (default, as SB3's DQN) or "tanh".
    pub activation: rlx_models::Activation,
    /// NatureCNN's arithmetic: "f32" (default) or "bf16" (mixed precision, f32 weights and optimizer).
    pub precision: Precision,

    /// Write a checkpoint every this many env steps and at the end; 0 = only at the end (default 100000).
    pub checkpoint_interval: u64,
    /// Save the replay buffer beside the checkpoint, so a resume continues exactly (default true; without it,
    /// a resume refills the buffer with `learning_starts` random steps).
    pub save_replay: bool,
    /// A non-finite TD loss or gradient: "error" stops training (default), "skip" skips that update.
    pub nan_policy: NanPolicy,

    /// Step the envs on an actor thread while the learner trains (rlx's parallel mode, same replay ratio and the
    /// same result on any machine); false = SB3's single-threaded loop, step for step (default false).
    pub actor_thread: bool,
    /// Parallel mode: env steps between refreshes of the actor's copy of the online network; the actor acts with
    /// weights one to two refreshes old (default 400, about Ape-X's 400 frames).
    pub actor_sync_interval: u64,

    /// Evaluate every this many env steps with `eval_episodes` episodes of the Nature protocol (as `rlx eval`:
    /// epsilon `eval_epsilon`, full games, at most 18,000 frames) and log `eval/mean_return`; 0 = never
    /// (default 0).
    pub eval_interval: u64,
    /// Episodes per periodic evaluation (default 5, rl-zoo3's EvalCallback).
    pub eval_episodes: usize,
    /// Exploration rate of the periodic evaluation (default 0.05, Nature's).
    pub eval_epsilon: f64,
}

impl Default for DqnConfig {
    fn default() -> Self {
        DqnConfig {
            env_id: "CartPole-v1".into(),
            seed: 0,
            n_envs: 1,
            env_threads: 1,
            total_timesteps: 1_000_000,
            device: DeviceChoice::Auto,
            torch_threads: 0,
            frame_pipeline: FramePipeline::Sb3,
            stack_padding: StackPadding::Reset,
            learning_rate: Schedule::Constant(1e-4),
            buffer_size: 1_000_000,
            learning_starts: 100,
            batch_size: 32,
            tau: 1.0,
            gamma: 0.99,
            train_freq: 4,
            gradient_steps: 1,
            target_update_interval: 10_000,
            exploration_fraction: 0.1,
            exploration_initial_eps: 1.0,
            exploration_final_eps: 0.05,
            max_grad_norm: 10.0,
            loss: TdLoss::Huber,
            optimizer: OptimizerKind::Adam,
            optimizer_eps: 1e-8,
            rmsprop_alpha: 0.95,
            rmsprop_centered: true,
            rmsprop_momentum: 0.0,
            double_q: false,
            dueling: false,
            n_step: 1,
            prioritized: false,
            per_alpha: 0.6,
            per_beta0: 0.4,
            per_eps: 1e-6,
            net_arch: vec![64, 64],
            activation: rlx_models::Activation::Relu,
            precision: Precision::F32,
            checkpoint_interval: 100_000,
            save_replay: true,
            nan_policy: NanPolicy::Error,
            actor_thread: false,
            actor_sync_interval: 400,
            eval_interval: 0,
            eval_episodes: 5,
            eval_epsilon: 0.05,
        }
    }
}

impl DqnConfig {
    /// Rejects values that cannot train.
    pub fn validate(&self) -> Result<()> {
        let bad = |msg: String| Err(AgentError::Config(msg));
        if self.n_envs == 0 || self.env_threads == 0 || self.batch_size == 0 || self.train_freq == 0 {
            return bad("n_envs, env_threads, batch_size and train_freq must be at least 1".into());
        }
        if self.n_step == 0 || self.target_update_interval == 0 || self.total_timesteps == 0 {
            return bad("n_step, target_update_interval and total_timesteps must be at least 1".into());
        }
        if self.actor_sync_interval == 0 || self.eval_episodes == 0 {
            return bad("actor_sync_interval and eval_episodes must be at least 1".into());
        }
        for (name, v) in [
            ("gamma", self.gamma),
            ("tau", self.tau),
            ("exploration_fraction", self.exploration_fraction),
            ("exploration_initial_eps", self.exploration_initial_eps),
            ("exploration_final_eps", self.exploration_final_eps),
            ("per_alpha", self.per_alpha),
            ("per_beta0", self.per_beta0),
            ("rmsprop_alpha", self.rmsprop_alpha),
            ("eval_epsilon", self.eval_epsilon),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return bad(format!("{name} = {v} must be in [0, 1]"));
            }
        }
        if self.tau == 0.0 {
            return bad("tau must be positive (1 = hard target updates)".into());
        }
        if !(self.learning_rate.initial() > 0.0 && self.learning_rate.initial().is_finite()) {
            return bad(format!("learning_rate = {} must be positive", self.learning_rate));
        }
        if self.max_grad_norm.is_nan() || self.max_grad_norm <= 0.0 || self.optimizer_eps <= 0.0 {
            return bad("max_grad_norm and optimizer_eps must be positive".into());
        }
        if self.buffer_size < self.n_envs * (self.n_step + 8) {
            return bad(format!("buffer_size = {} is too small for {} envs", self.buffer_size, self.n_envs));
        }
        Ok(())
    }

    pub fn network(&self) -> QNetworkConfig {
        QNetworkConfig {
            net_arch: self.net_arch.clone(),
            activation: self.activation,
            dueling: self.dueling,
            precision: self.precision,
        }
    }

    /// Epsilon after `step` env steps: linear from the initial to the final value over `exploration_fraction`.
    pub fn epsilon(&self, step: u64) -> f64 {
        let progress = step as f64 / self.total_timesteps as f64;
        let fraction = if self.exploration_fraction > 0.0 { progress / self.exploration_fraction } else { 1.0 };
        let (start, end) = (self.exploration_initial_eps, self.exploration_final_eps);
        start + fraction.min(1.0) * (end - start)
    }
}

// ---------------------------------------------------------------------------------------------------------------
// The TD loss, on its own so it can be checked against PyTorch.
// ---------------------------------------------------------------------------------------------------------------

/// One minibatch's inputs to the TD loss. Shapes: `q` (B, A) online Q-values of the observations, `next_q_target`
/// (B, A) target-network Q-values of the next observations, `next_q_online` (B, A) online ones (Double DQN only),
/// the rest (B,).
pub struct TdInputs<'a> {
    pub q: &'a Tensor,
    pub actions: &'a Tensor,
    pub rewards: &'a Tensor,
    /// `gamma^n` where the target bootstraps, 0 where the episode terminated.
    pub discounts: &'a Tensor,
    pub next_q_target: &'a Tensor,
    pub next_q_online: Option<&'a Tensor>,
    /// Importance-sampling weights (prioritized replay), else ones.
    pub weights: &'a Tensor,
}

pub struct TdOutput {
    /// Weighted mean of the per-sample losses (differentiable).
    pub loss: Tensor,
    /// (B,) target - Q(s, a), for priorities.
    pub td_errors: Tensor,
    /// Mean Q(s, a) of the batch (`losses/q_values`).
    pub mean_q: f64,
}

/// `target = r + discount * Q_target(s', argmax)` (argmax of the target network, or of the online one for Double
/// DQN), computed without gradient; the loss of `Q(s, a)` against it, Huber (smooth L1, beta 1) or squared, weighted
/// per sample and averaged: with unit weights, SB3's `F.smooth_l1_loss(current_q, target_q)`.
pub fn td_loss(x: &TdInputs<'_>, loss: TdLoss) -> TdOutput {
    let target = tch::no_grad(|| {
        let next = match x.next_q_online {
            None => x.next_q_target.max_dim(1, false).0,
            Some(online) => x.next_q_target.gather(1, &online.argmax(1, true), false).squeeze_dim(1),
        };
        x.rewards + x.discounts * next
    });
    let q_taken = x.q.gather(1, &x.actions.unsqueeze(1), false).squeeze_dim(1); // (B,)
    let error = &target - &q_taken;
    let per_sample = match loss {
        TdLoss::Huber => q_taken.smooth_l1_loss(&target, tch::Reduction::None, 1.0),
        TdLoss::Mse => error.square(),
    };
    let loss = (per_sample * x.weights).mean(Kind::Float);
    let mean_q = tch::no_grad(|| q_taken.mean(Kind::Float).double_value(&[]));
    TdOutput { loss, td_errors: error.detach(), mean_q }
}

// ---------------------------------------------------------------------------------------------------------------
// The agent.
// ---------------------------------------------------------------------------------------------------------------

/// Observation elements DQN can store and turn into tensors (f32 vectors, u8 frames).
pub trait DqnObs: Element + tch::kind::Element {}
impl<T: Element + tch::kind::Element> DqnObs for T {}

/// Plays evaluation episodes with the online network at a global step and returns their returns. The runner builds
/// it (the Nature protocol on envs of its own, see `rlx eval`); `learn` calls it every `eval_interval` env steps.
pub type Evaluator = Box<dyn FnMut(&QNetwork, u64) -> Result<Vec<f64>>>;

/// Where training stands; saved in checkpoints.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Env steps over all envs (SB3's `num_timesteps`).
    pub global_step: u64,
    /// Vector-env steps (SB3's `_n_calls`).
    pub vector_steps: u64,
    pub gradient_steps: u64,
    /// Learning starts after this env step: `learning_starts`, or later after a resume that refills the buffer.
    pub learn_after: u64,
}

/// The learning side: both networks, the optimizer and the minibatch generator. It is apart from the envs so an
/// actor thread can step them while this trains.
pub struct Learner<T> {
    pub q: QNetwork,
    target: QNetwork,
    optimizer: Optimizer,
    batch: Batch<T>,
    device: Device,
    /// Draws minibatches (and, in SB3's single-threaded loop, exploration as well); saved in checkpoints.
    rng: rand_pcg::Pcg64,
    /// Updates skipped for a non-finite loss or gradient (`nan_policy = "skip"`), this session.
    skipped_updates: u64,
}

pub struct Dqn<V: VecEnv> {
    pub config: DqnConfig,
    pub env: V,
    pub learner: Learner<V::Obs>,
    pub replay: ReplayBuffer<V::Obs>,
    pub progress: Progress,
    /// Draws exploration on the actor thread (`actor_thread`); saved in checkpoints.
    actor_rng: rand_pcg::Pcg64,
    last_obs: Vec<V::Obs>,
    next_checkpoint: u64,
    pub evaluator: Option<Evaluator>,
}

impl<V: VecEnv> Dqn<V>
where
    V::Obs: DqnObs,
{
    /// Builds the networks (seeded with `config.seed`), the replay buffer, and resets the envs.
    pub fn new(config: DqnConfig, mut env: V) -> Result<Self> {
        config.validate()?;
        crate::check_n_envs(env.num_envs(), config.n_envs)?;
        let device = config.device.resolve()?;
        let observation_space = env.single_observation_space().clone();
        let is_frames = observation_space.shape().len() == 3;
        tch::set_num_threads(match config.torch_threads {
            0 if !is_frames && device == Device::Cpu => 1,
            0 => tch::get_num_threads().max(1),
            n => n as i32,
        });
        tch::manual_seed(config.seed as i64);
        let q = QNetwork::new(&observation_space, env.single_action_space(), &config.network(), device)?;
        let mut target = QNetwork::new(&observation_space, env.single_action_space(), &config.network(), device)?;
        target.vs.copy(&q.vs)?;
        let optimizer = match config.optimizer {
            OptimizerKind::Adam => {
                Optimizer::new(&q.vs, AdamConfig { eps: config.optimizer_eps, ..Default::default() })
            }
            OptimizerKind::Rmsprop => Optimizer::with_rule(
                &q.vs,
                Rule::RmsProp(RmsPropConfig {
                    alpha: config.rmsprop_alpha,
                    eps: config.optimizer_eps,
                    centered: config.rmsprop_centered,
                    momentum: config.rmsprop_momentum,
                }),
            ),
        };
        // Frames: one per transition, stacks rebuilt at sampling time (padded like the env's stack). Vectors: the
        // whole observation is the frame.
        let shape = observation_space.shape();
        let (stack, frame_len) = if is_frames { (shape[0], shape[1] * shape[2]) } else { (1, shape.iter().product()) };
        let replay = ReplayBuffer::new(ReplayConfig {
            capacity: config.buffer_size,
            n_envs: config.n_envs,
            frame_len,
            stack,
            padding: match config.stack_padding {
                StackPadding::Reset => Padding::Reset,
                StackPadding::Zeros => Padding::Zeros,
            },
            n_step: config.n_step,
            gamma: config.gamma,
            priority_alpha: config.prioritized.then_some(config.per_alpha),
        })
        .map_err(|e| AgentError::Config(e.to_string()))?;
        let last_obs = env.reset(Some(config.seed))?.obs.clone();
        let mut agent = Dqn {
            learner: Learner {
                q,
                target,
                optimizer,
                batch: Batch::default(),
                device,
                rng: rand_pcg::Pcg64::seed_from_u64(config.seed ^ 0xD00D_5EED),
                skipped_updates: 0,
            },
            actor_rng: rand_pcg::Pcg64::seed_from_u64(config.seed ^ 0xAC70_5EED),
            next_checkpoint: config.checkpoint_interval,
            progress: Progress { learn_after: config.learning_starts, ..Default::default() },
            config,
            env,
            replay,
            last_obs,
            evaluator: None,
        };
        agent.replay.start(&agent.last_obs);
        Ok(agent)
    }

    /// Greedy actions of the online network for `rows` observations.
    pub fn greedy_actions(&self, obs: &[V::Obs], rows: usize) -> Vec<i64> {
        greedy_actions(&self.learner.q, obs, rows)
    }
}

impl<V: VecEnv + Send> Dqn<V>
where
    V::Obs: DqnObs,
{
    /// Trains until `total_timesteps`, logging and checkpointing to `checkpoint_path` (the replay buffer beside it
    /// when `save_replay`) at the configured interval and at the end, and evaluating every `eval_interval` steps.
    /// Checkpoints and evaluations fall between segments of training, with no actor thread running.
    pub fn learn(&mut self, logger: &mut Logger, checkpoint_path: Option<&Path>) -> Result<()> {
        let clock = Clock { start_step: self.progress.global_step, started: std::time::Instant::now() };
        let total = self.config.total_timesteps;
        let checkpointing = checkpoint_path.is_some() && self.config.checkpoint_interval > 0;
        let eval_interval = if self.evaluator.is_some() { self.config.eval_interval } else { 0 };
        while self.progress.global_step < total {
            let mut segment_end = total;
            if checkpointing {
                segment_end = segment_end.min(self.next_checkpoint);
            }
            if let Some(evals_done) = self.progress.global_step.checked_div(eval_interval) {
                segment_end = segment_end.min((evals_done + 1) * eval_interval);
            }
            let before = self.progress.global_step;
            if self.config.actor_thread {
                self.learn_with_actor(segment_end, logger, &clock)?;
            } else {
                while self.progress.global_step < segment_end && !guard::interrupted() {
                    self.collect_step(logger)?;
                    self.learner.after_env_step(&self.config, &mut self.replay, &mut self.progress, logger, &clock)?;
                }
            }
            let step = self.progress.global_step;
            if guard::interrupted() {
                if let Some(path) = checkpoint_path {
                    self.save(path)?;
                }
                logger.finish();
                return Err(AgentError::Interrupted { step });
            }
            if eval_interval > 0 && step / eval_interval > before / eval_interval {
                self.evaluate(logger)?;
            }
            if let Some(path) = checkpoint_path.filter(|_| checkpointing && step >= self.next_checkpoint) {
                while self.next_checkpoint <= step {
                    self.next_checkpoint += self.config.checkpoint_interval;
                }
                self.save(path)?;
            }
        }
        if let Some(path) = checkpoint_path {
            self.save(path)?;
        }
        logger.finish();
        Ok(())
    }

    /// Runs the evaluator on the online network and logs `eval/mean_return` (and its std).
    fn evaluate(&mut self, logger: &mut Logger) -> Result<()> {
        let Some(evaluator) = self.evaluator.as_mut() else { return Ok(()) };
        let returns = evaluator(&self.learner.q, self.progress.global_step)?;
        let n = returns.len().max(1) as f64;
        let mean = returns.iter().sum::<f64>() / n;
        let std = (returns.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / n).sqrt();
        logger.scalar("eval/mean_return", mean, self.progress.global_step);
        logger.scalar("eval/std_return", std, self.progress.global_step);
        logger.flush();
        Ok(())
    }

    // -----------------------------------------------------------------------------------------------------------
    // Acting, SB3's single-threaded loop: random before learning_starts, then epsilon-greedy; one step of every
    // env into the replay buffer, then the learner's turn.
    // -----------------------------------------------------------------------------------------------------------

    fn collect_step(&mut self, logger: &mut Logger) -> Result<()> {
        let n = self.config.n_envs;
        let epsilon = exploration_rate(&self.config, self.progress.global_step, self.progress.learn_after);
        let mut actions = if epsilon < 1.0 { self.greedy_actions(&self.last_obs, n) } else { vec![0; n] };
        explore(&mut actions, epsilon, self.learner.q.n_actions, &mut self.learner.rng);
        let batch = self.env.step(Actions::Discrete(&actions))?;
        self.replay.add(&replay_step(&actions, batch));
        self.progress.global_step += n as u64;
        self.progress.vector_steps += 1;
        let episodes = batch.infos.iter().enumerate().filter_map(|(i, info)| info.episode.map(|ep| (i, ep)));
        log_episodes(logger, episodes, self.progress.global_step, n);
        self.last_obs.copy_from_slice(&batch.obs);
        Ok(())
    }

    // -----------------------------------------------------------------------------------------------------------
    // Acting on a thread of its own (`actor_thread`): the actor steps the envs with a copy of the online network
    // while the learner trains. Both sides count steps, so the run is the same on any machine:
    // - the learner applies the actor's vector step u, then does exactly what the single-threaded loop does after
    //   step u (target update, training every train_freq steps): the replay ratio is the preset's;
    // - the actor's copy is refreshed every K = actor_sync_interval / n_envs vector steps, and at vector step v
    //   it acts with the online weights as they were after the learner's step (v / K - 1) K (never earlier than
    //   the segment's start): it runs up to two refreshes ahead of the learner, and never waits on it otherwise.
    // -----------------------------------------------------------------------------------------------------------

    fn learn_with_actor(&mut self, segment_end: u64, logger: &mut Logger, clock: &Clock) -> Result<()> {
        let n = self.config.n_envs as u64;
        let start = self.progress.vector_steps;
        let end = start + (segment_end.saturating_sub(self.progress.global_step)).div_ceil(n);
        let sync = (self.config.actor_sync_interval / n).max(1);
        let Dqn { config, env, learner, replay, progress, actor_rng, last_obs, .. } = self;
        let config = &*config;
        let actor = Actor {
            config,
            observation_space: env.single_observation_space().clone(),
            action_space: env.single_action_space().clone(),
            device: learner.device,
            start,
            end,
            sync,
            learn_after: progress.learn_after,
        };
        let mut shared = SharedReplay::new(replay, 2 * sync as usize + 16);
        let writer = shared.writer(0..config.n_envs).map_err(|e| AgentError::Config(e.to_string()))?;
        shared.close_writers();
        let (weights_tx, weights_rx) = crossbeam_channel::unbounded();
        let _ = weights_tx.send((start, snapshot(&learner.q)));
        std::thread::scope(|scope| -> Result<()> {
            let handle = scope.spawn(move || actor.run(env, last_obs, actor_rng, writer, weights_rx));
            // `shared` and `weights_tx` live in this closure: if the learner fails, dropping them stops the actor.
            let (mut shared, weights_tx) = (shared, weights_tx);
            // Every step the actor took is applied, also when it stops early (an interrupt, an env error), so the
            // buffer and the counters always match the envs' state.
            let mut learned = Ok(());
            while progress.vector_steps < end {
                let Some(episodes) = shared.apply_next() else { break }; // the actor stopped
                progress.global_step += n;
                progress.vector_steps += 1;
                log_episodes(logger, episodes.into_iter(), progress.global_step, n as usize);
                learned = learner.after_env_step(config, shared.buffer, progress, logger, clock);
                if learned.is_err() {
                    break;
                }
                if progress.vector_steps.is_multiple_of(sync) {
                    let _ = weights_tx.send((progress.vector_steps, snapshot(&learner.q)));
                }
            }
            drop((shared, weights_tx));
            let acted = handle.join().map_err(|_| AgentError::Runtime("the actor thread panicked".into()))?;
            learned.and(acted)
        })
    }
}

/// One vector-env step as the replay buffer takes it.
fn replay_step<'a, T>(actions: &'a [i64], batch: &'a rlx_envs::vector::Batch<T>) -> Step<'a, T> {
    Step {
        actions,
        rewards: &batch.rewards,
        terminated: &batch.terminated,
        truncated: &batch.truncated,
        obs: &batch.obs,
        final_obs: &batch.final_obs,
    }
}

/// SB3's exploration rate: 1 (uniformly random) before learning starts, then the linear schedule.
fn exploration_rate(config: &DqnConfig, global_step: u64, learn_after: u64) -> f64 {
    if global_step < learn_after {
        1.0
    } else {
        config.epsilon(global_step)
    }
}

/// Epsilon-greedy in place over greedy `actions`: each env explores on its own coin (SB3 draws one coin for the
/// whole vector env; with one env, the same draws).
fn explore(actions: &mut [i64], epsilon: f64, n_actions: i64, rng: &mut impl Rng) {
    for a in actions {
        if rng.random::<f64>() < epsilon {
            *a = rng.random_range(0..n_actions);
        }
    }
}

/// Greedy actions of `q` for `rows` observations.
fn greedy_actions<T: DqnObs>(q: &QNetwork, obs: &[T], rows: usize) -> Vec<i64> {
    let obs = q.obs_tensor(obs, rows as i64);
    let actions = tch::no_grad(|| q.forward(&obs).argmax(1, false));
    Vec::<i64>::try_from(actions.to_device(Device::Cpu)).expect("int64 actions")
}

/// Logs the episodes (env index, stats) that ended at the vector step that brought the count to `global_step`.
fn log_episodes(
    logger: &mut Logger,
    episodes: impl Iterator<Item = (usize, EpisodeStats)>,
    global_step: u64,
    n_envs: usize,
) {
    for (i, ep) in episodes {
        logger.episode(ep.ret, ep.len, global_step - (n_envs - 1 - i) as u64);
    }
}

/// A deep copy of a network's weights, to send to the actor.
fn snapshot(q: &QNetwork) -> HashMap<String, Tensor> {
    tch::no_grad(|| q.vs.variables().into_iter().map(|(name, t)| (name, t.copy())).collect())
}

/// When training started, for `charts/SPS`.
struct Clock {
    start_step: u64,
    started: std::time::Instant,
}

/// The actor thread's share of a segment: vector steps `start..end` (see `learn_with_actor`).
struct Actor<'a> {
    config: &'a DqnConfig,
    observation_space: rlx_envs::Space,
    action_space: rlx_envs::Space,
    device: Device,
    start: u64,
    end: u64,
    sync: u64,
    learn_after: u64,
}

/// What the actor sends with each step: the episodes that ended, by env index.
type Episodes = Vec<(usize, EpisodeStats)>;

impl Actor<'_> {
    fn run<V: VecEnv>(
        self,
        env: &mut V,
        last_obs: &mut [V::Obs],
        rng: &mut rand_pcg::Pcg64,
        writer: ReplayWriter<V::Obs, Episodes>,
        weights: Receiver<(u64, HashMap<String, Tensor>)>,
    ) -> Result<()>
    where
        V::Obs: DqnObs,
    {
        // One intra-op thread for batches of a few observations: the learner's convolutions keep the others.
        tch::set_num_threads(1);
        let n = self.config.n_envs;
        // f32 inference: at batch n_envs, casting the weights to bf16 would cost more than it saves.
        let network = QNetworkConfig { precision: Precision::F32, ..self.config.network() };
        let q = QNetwork::new(&self.observation_space, &self.action_space, &network, self.device)?;
        let (mut held, mut arrived) = (None, std::collections::VecDeque::new());
        for v in self.start..self.end {
            if guard::interrupted() {
                return Ok(()); // the learner applies what was sent, then the segment ends
            }
            let global_step = v * n as u64;
            let epsilon = exploration_rate(self.config, global_step, self.learn_after);
            let needed = ((v / self.sync) * self.sync).saturating_sub(self.sync).max(self.start);
            // Snapshots arrive in tag order; those older than this step's are never needed again.
            arrived.extend(weights.try_iter());
            while arrived.front().is_some_and(|(tag, _)| *tag < needed) {
                arrived.pop_front();
            }
            if epsilon < 1.0 && held != Some(needed) {
                while arrived.front().is_none_or(|(tag, _)| *tag != needed) {
                    match weights.recv() {
                        Ok(snapshot) if snapshot.0 >= needed => arrived.push_back(snapshot),
                        Ok(_) => {}
                        Err(_) => return Ok(()), // the learner stopped
                    }
                }
                checkpoint::copy_weights(&q.vs, &arrived[0].1, "").map_err(AgentError::Config)?;
                held = Some(needed);
            }
            let mut actions = if epsilon < 1.0 { greedy_actions(&q, last_obs, n) } else { vec![0; n] };
            explore(&mut actions, epsilon, q.n_actions, rng);
            let batch = env.step(Actions::Discrete(&actions))?;
            let episodes = batch.infos.iter().enumerate().filter_map(|(i, info)| info.episode.map(|ep| (i, ep)));
            if writer.add(&replay_step(&actions, batch), episodes.collect()).is_err() {
                return Ok(()); // the learner stopped
            }
            last_obs.copy_from_slice(&batch.obs);
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Learning: after every vector-env step, SB3's `_on_step` (the target network) and, every train_freq steps,
// gradient_steps minibatches.
// ---------------------------------------------------------------------------------------------------------------

impl<T: DqnObs> Learner<T> {
    fn after_env_step(
        &mut self,
        config: &DqnConfig,
        replay: &mut ReplayBuffer<T>,
        progress: &mut Progress,
        logger: &mut Logger,
        clock: &Clock,
    ) -> Result<()> {
        let n = config.n_envs as u64;
        if progress.vector_steps.is_multiple_of((config.target_update_interval / n).max(1)) {
            self.update_target(config.tau);
        }
        if progress.vector_steps.is_multiple_of(config.train_freq) && progress.global_step > progress.learn_after {
            self.train(config, replay, progress, logger)?;
        }
        let step = progress.global_step;
        if progress.vector_steps.is_multiple_of(100) || step >= config.total_timesteps {
            let sps = (step - clock.start_step) as f64 / clock.started.elapsed().as_secs_f64().max(1e-9);
            logger.scalar("charts/SPS", sps, step);
            logger.scalar("charts/epsilon", config.epsilon(step), step);
            logger.progress(step, sps);
        }
        Ok(())
    }

    fn train(
        &mut self,
        cfg: &DqnConfig,
        replay: &mut ReplayBuffer<T>,
        progress: &mut Progress,
        logger: &mut Logger,
    ) -> Result<()> {
        let progress_remaining = 1.0 - progress.global_step as f64 / cfg.total_timesteps as f64;
        let lr = cfg.learning_rate.value(progress_remaining);
        let beta = cfg.per_beta0 + (1.0 - cfg.per_beta0) * (1.0 - progress_remaining);
        let (mut losses, mut q_values) = (Vec::new(), Vec::new());
        for _ in 0..cfg.gradient_steps {
            if replay.sample(cfg.batch_size, beta, &mut self.rng, &mut self.batch).is_err() {
                return Ok(()); // nothing sampleable yet (learning_starts smaller than the n-step window)
            }
            let b = &self.batch;
            let rows = cfg.batch_size as i64;
            let tensor = |v: &[f32]| Tensor::from_slice(v).to_device(self.device);
            let obs = self.q.obs_tensor(&b.obs, rows);
            let next_obs = self.q.obs_tensor(&b.next_obs, rows);
            // One forward of the online network for both batches when Double DQN needs its next-state values.
            let (q, next_q_online) = if cfg.double_q {
                let both = self.q.forward(&Tensor::cat(&[&obs, &next_obs], 0));
                let next = both.narrow(0, rows, rows).detach();
                (both.narrow(0, 0, rows), Some(next))
            } else {
                (self.q.forward(&obs), None)
            };
            let next_q_target = tch::no_grad(|| self.target.forward(&next_obs));
            let out = td_loss(
                &TdInputs {
                    q: &q,
                    actions: &Tensor::from_slice(&b.actions).to_device(self.device),
                    rewards: &tensor(&b.rewards),
                    discounts: &tensor(&b.discounts),
                    next_q_target: &next_q_target,
                    next_q_online: next_q_online.as_ref(),
                    weights: &tensor(&b.weights),
                },
                cfg.loss,
            );
            // A non-finite loss or gradient never reaches the weights (see `nan_policy`).
            let loss = out.loss.double_value(&[]);
            let non_finite = if loss.is_finite() {
                let step = self.optimizer.backward_step(&out.loss, lr, Some(cfg.max_grad_norm));
                step.err().map(|norm| ("the TD loss's gradient norm", norm))
            } else {
                Some(("the TD loss", loss))
            };
            if let Some((what, value)) = non_finite {
                guard::non_finite(cfg.nan_policy, what, value, progress.global_step)?;
                self.skipped_updates += 1;
                logger.scalar("charts/skipped_updates", self.skipped_updates as f64, progress.global_step);
                continue;
            }
            progress.gradient_steps += 1;
            if cfg.prioritized {
                let errors = rlx_models::to_vec_f32(&out.td_errors.abs());
                let priorities: Vec<f64> = errors.iter().map(|&e| e as f64 + cfg.per_eps).collect();
                replay.update_priorities(&self.batch.indices, &priorities);
            }
            losses.push(loss);
            q_values.push(out.mean_q);
        }
        let mean = |xs: &[f64]| xs.iter().sum::<f64>() / xs.len() as f64;
        let step = progress.global_step;
        if !losses.is_empty() {
            logger.scalar("losses/td_loss", mean(&losses), step);
            logger.scalar("losses/q_values", mean(&q_values), step);
        }
        logger.scalar("charts/learning_rate", lr, step);
        Ok(())
    }

    /// Hard copy (`tau` = 1) or Polyak averaging of the online weights into the target network.
    fn update_target(&mut self, tau: f64) {
        if tau >= 1.0 {
            self.target.vs.copy(&self.q.vs).expect("same architecture");
            return;
        }
        let online = self.q.vs.variables();
        tch::no_grad(|| {
            for (name, mut t) in self.target.vs.variables() {
                let _ = t.lerp_(&online[&name], tau);
            }
        });
    }
}

impl<V: VecEnv> Dqn<V>
where
    V::Obs: DqnObs,
{
    // -----------------------------------------------------------------------------------------------------------
    // Checkpoints.
    // -----------------------------------------------------------------------------------------------------------

    /// The replay file of the checkpoint taken at `step`, beside `checkpoint`: `<stem>.replay-<step>`.
    pub fn replay_path(checkpoint: &Path, step: u64) -> std::path::PathBuf {
        checkpoint.with_extension(format!("replay-{step}"))
    }

    /// Writes both networks, the optimizer state, counters, the generator, the last observations and the env
    /// snapshot to `path`, and (with `save_replay`) the replay buffer beside it, each atomically. The buffer goes
    /// to a file named by the step, written before the checkpoint that names it; older ones are removed only after
    /// the checkpoint is in place, so a kill at any moment leaves a checkpoint and the buffer it names.
    pub fn save(&mut self, path: &Path) -> Result<()> {
        let replay_file = self.config.save_replay.then(|| Self::replay_path(path, self.progress.global_step));
        if let Some(file) = &replay_file {
            self.replay.save(file).map_err(|e| AgentError::Io(e.to_string()))?;
        }
        let mut tensors: Vec<(String, Tensor)> =
            self.learner.q.vs.variables().into_iter().map(|(n, t)| (format!("q.{n}"), t)).collect();
        tensors.extend(self.learner.target.vs.variables().into_iter().map(|(n, t)| (format!("target.{n}"), t)));
        let (opt, opt_step) = self.learner.optimizer.state();
        tensors.extend(opt.into_iter().map(|(n, t)| (format!("optimizer.{n}"), t)));
        tensors.push(("state.last_obs".into(), Tensor::from_slice(&self.last_obs)));
        let state = serde_json::json!({
            "algo": "dqn",
            "env_id": self.config.env_id,
            "global_step": self.progress.global_step,
            "vector_steps": self.progress.vector_steps,
            "gradient_steps": self.progress.gradient_steps,
            "optimizer_step": opt_step,
            "next_checkpoint": self.next_checkpoint,
            "learn_after": self.progress.learn_after,
            "replay_added": self.replay.added(),
            "replay_file": replay_file.as_ref().and_then(|f| f.file_name()).map(|f| f.to_string_lossy().to_string()),
            "rng": serde_json::to_string(&self.learner.rng).expect("PCG state serializes"),
            "actor_rng": serde_json::to_string(&self.actor_rng).expect("PCG state serializes"),
            "env": self.env.snapshot()?,
        });
        checkpoint::save(path, &tensors, &state)?;
        // Replay files of earlier checkpoints are no longer named by any checkpoint.
        let prefix = format!("{}.replay-", path.file_stem().unwrap_or_default().to_string_lossy());
        let keep = replay_file.as_ref().and_then(|f| f.file_name()).map(|f| f.to_owned());
        if let Ok(entries) = std::fs::read_dir(path.parent().unwrap_or(Path::new("."))) {
            for entry in entries.flatten() {
                let name = entry.file_name();
                if name.to_string_lossy().starts_with(&prefix) && Some(&name) != keep.as_ref() {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        Ok(())
    }

    /// Restores what `save` wrote; the config must be the one the checkpoint was trained with. Without a replay
    /// file (`save_replay = false`), the buffer starts empty and refills: learning waits `learning_starts` more
    /// env steps.
    pub fn load(&mut self, path: &Path) -> Result<()> {
        let loaded = checkpoint::load(path)?;
        let err = |reason: String| AgentError::Checkpoint { path: path.display().to_string(), reason };
        let s = &loaded.state;
        checkpoint::check_identity(s, "dqn", &self.config.env_id).map_err(err)?;
        load_weights(&mut self.learner.q, &loaded.tensors, "q.").map_err(err)?;
        load_weights(&mut self.learner.target, &loaded.tensors, "target.").map_err(err)?;
        let opt: std::collections::HashMap<String, Tensor> = loaded
            .tensors
            .iter()
            .filter_map(|(n, t)| n.strip_prefix("optimizer.").map(|k| (k.to_string(), t.shallow_clone())))
            .collect();
        let number = |key: &str| s[key].as_u64().ok_or_else(|| err(format!("state field `{key}` missing")));
        self.learner.optimizer.load_state(&opt, number("optimizer_step")? as i64).map_err(err)?;
        self.progress.global_step = number("global_step")?;
        self.progress.vector_steps = number("vector_steps")?;
        self.progress.gradient_steps = number("gradient_steps")?;
        self.next_checkpoint = number("next_checkpoint")?;
        self.progress.learn_after = number("learn_after")?;
        self.learner.rng = checkpoint::generator(s).ok_or_else(|| err("bad generator state".into()))?;
        // Checkpoints written before the actor thread existed have no actor generator: it keeps its seed.
        if let Some(text) = s["actor_rng"].as_str() {
            self.actor_rng = serde_json::from_str(text).map_err(|_| err("bad actor generator state".into()))?;
        }
        let last_obs = loaded.tensors.get("state.last_obs").ok_or_else(|| err("last observations missing".into()))?;
        if last_obs.numel() != self.last_obs.len() {
            return Err(err("saved for a different number of envs or observation size".into()));
        }
        self.last_obs = Vec::<V::Obs>::try_from(last_obs).map_err(|e| err(e.to_string()))?;
        let env_snapshot: &Snapshot = &s["env"];
        self.env.restore(env_snapshot)?;
        let replay_path = s["replay_file"].as_str().map(|name| path.with_file_name(name));
        if let Some(replay_path) = replay_path.filter(|_| self.config.save_replay) {
            let replay = ReplayBuffer::load(&replay_path, self.replay.config())
                .map_err(|e| err(format!("{e} (to resume with an empty buffer: --set save_replay=false)")))?;
            if replay.added() != number("replay_added")? {
                return Err(err(format!("{} belongs to another checkpoint", replay_path.display())));
            }
            self.replay = replay;
        } else {
            // Refill from here: an empty buffer starting at the current observations, random actions and no
            // learning for learning_starts more env steps.
            self.replay = ReplayBuffer::new(self.replay.config().clone()).map_err(|e| err(e.to_string()))?;
            self.replay.start(&self.last_obs);
            self.progress.learn_after = self.progress.global_step + self.config.learning_starts;
        }
        Ok(())
    }
}

/// Copies `<prefix><name>` tensors into the network's variables; every variable must be present with its shape.
pub fn load_weights(
    net: &mut QNetwork,
    tensors: &std::collections::HashMap<String, Tensor>,
    prefix: &str,
) -> Result<(), String> {
    checkpoint::copy_weights(&net.vs, tensors, prefix)
}
