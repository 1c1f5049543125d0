//! SB3's `VecNormalize`: observation and reward normalization with statistics shared by all envs of the batch.

use super::{Actions, Batch, VecEnv};
use crate::error::{EnvError, Result};
use crate::render::RgbFrame;
use crate::wrappers::RunningMeanStd;
use crate::{Snapshot, Space};
use serde::Deserialize;

/// Settings of [`VecNormalize`]; the defaults are SB3's.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct VecNormalizeConfig {
    /// Normalize observations (default true).
    pub norm_obs: bool,
    /// Normalize rewards by the running std of the discounted return (default true).
    pub norm_reward: bool,
    /// Observations are clipped to `[-clip_obs, clip_obs]` after normalization (default 10).
    pub clip_obs: f64,
    /// Rewards are clipped to `[-clip_reward, clip_reward]` after normalization (default 10).
    pub clip_reward: f64,
    /// Discount of the return whose variance scales the rewards; use the agent's gamma (default 0.99).
    pub gamma: f64,
    /// Added to the variance before the square root (default 1e-8).
    pub epsilon: f64,
}

impl Default for VecNormalizeConfig {
    fn default() -> Self {
        VecNormalizeConfig {
            norm_obs: true,
            norm_reward: true,
            clip_obs: 10.0,
            clip_reward: 10.0,
            gamma: 0.99,
            epsilon: 1e-8,
        }
    }
}

/// The statistics a trained model needs at evaluation time: saved with checkpoints.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct VecNormalizeState {
    pub config: VecNormalizeConfig,
    pub obs_rms: RunningMeanStd,
    pub ret_rms: RunningMeanStd,
    /// Discounted return of each env's current episode.
    pub returns: Vec<f64>,
}

/// Normalizes a vector env's observations (`final_obs` too) and rewards. Episode statistics in `infos` stay raw.
/// `set_training(false)` freezes the statistics (evaluation).
pub struct VecNormalize<V: VecEnv<Obs = f32>> {
    env: V,
    state: VecNormalizeState,
    training: bool,
    batch: Batch<f32>,
}

impl<V: VecEnv<Obs = f32>> VecNormalize<V> {
    pub fn new(env: V, config: VecNormalizeConfig) -> Self {
        let (n, dim) = (env.num_envs(), env.single_observation_space().flat_dim());
        let state = VecNormalizeState {
            config,
            obs_rms: RunningMeanStd::new(dim),
            ret_rms: RunningMeanStd::new(1),
            returns: vec![0.0; n],
        };
        VecNormalize { env, state, training: true, batch: Batch::new(n, dim) }
    }

    pub fn set_training(&mut self, training: bool) {
        self.training = training;
    }
    pub fn state(&self) -> &VecNormalizeState {
        &self.state
    }
    pub fn inner_mut(&mut self) -> &mut V {
        &mut self.env
    }

    /// Restores saved statistics (e.g. from a checkpoint); the observation size must match.
    pub fn load_state(&mut self, state: VecNormalizeState) -> Result<()> {
        if state.obs_rms.mean.len() != self.batch.obs_len() || state.returns.len() != self.env.num_envs() {
            return Err(EnvError::Load {
                what: "VecNormalize statistics".into(),
                reason: format!(
                    "saved for {} envs with {} observation values, this env has {} and {}",
                    state.returns.len(),
                    state.obs_rms.mean.len(),
                    self.env.num_envs(),
                    self.batch.obs_len()
                ),
            });
        }
        self.state = state;
        Ok(())
    }

    /// Normalizes an observation batch with the current statistics (no update).
    pub fn normalize_obs(&self, obs: &mut [f32]) {
        if self.state.config.norm_obs {
            self.state.obs_rms.normalize(obs, self.state.config.epsilon, self.state.config.clip_obs);
        }
    }
}

/// Copies the inner batch into `b` and normalizes it, updating the statistics when `training`.
fn process(b: &mut Batch<f32>, s: &mut VecNormalizeState, training: bool, inner: &Batch<f32>, is_reset: bool) {
    b.obs.copy_from_slice(&inner.obs);
    b.final_obs.copy_from_slice(&inner.final_obs);
    b.rewards.copy_from_slice(&inner.rewards);
    b.terminated.copy_from_slice(&inner.terminated);
    b.truncated.copy_from_slice(&inner.truncated);
    b.infos.copy_from_slice(&inner.infos);
    let cfg = &s.config;
    if training && cfg.norm_obs {
        s.obs_rms.update(&b.obs);
    }
    if cfg.norm_obs {
        s.obs_rms.normalize(&mut b.obs, cfg.epsilon, cfg.clip_obs);
        s.obs_rms.normalize(&mut b.final_obs, cfg.epsilon, cfg.clip_obs);
    }
    if is_reset {
        s.returns.fill(0.0);
        return;
    }
    // SB3: returns = returns * gamma + reward; update ret_rms with the batch of returns; scale; zero on done.
    for (ret, &r) in s.returns.iter_mut().zip(&inner.rewards) {
        *ret = *ret * cfg.gamma + r as f64;
    }
    if training && cfg.norm_reward {
        s.ret_rms.update(&s.returns);
    }
    if cfg.norm_reward {
        let scale = (s.ret_rms.var[0] + cfg.epsilon).sqrt();
        for r in &mut b.rewards {
            *r = (*r as f64 / scale).clamp(-cfg.clip_reward, cfg.clip_reward) as f32;
        }
    }
    for (i, ret) in s.returns.iter_mut().enumerate() {
        if inner.terminated[i] || inner.truncated[i] {
            *ret = 0.0;
        }
    }
}

impl<V: VecEnv<Obs = f32>> VecEnv for VecNormalize<V> {
    type Obs = f32;
    fn num_envs(&self) -> usize {
        self.env.num_envs()
    }
    fn single_observation_space(&self) -> &Space {
        self.env.single_observation_space()
    }
    fn single_action_space(&self) -> &Space {
        self.env.single_action_space()
    }

    fn reset(&mut self, seed: Option<u64>) -> Result<&Batch<f32>> {
        let inner = self.env.reset(seed)?;
        process(&mut self.batch, &mut self.state, self.training, inner, true);
        Ok(&self.batch)
    }

    fn step(&mut self, actions: Actions<'_>) -> Result<&Batch<f32>> {
        let inner = self.env.step(actions)?;
        process(&mut self.batch, &mut self.state, self.training, inner, false);
        Ok(&self.batch)
    }

    fn snapshot(&mut self) -> Result<Snapshot> {
        let state = serde_json::to_value(&self.state).map_err(|e| EnvError::Unsupported(e.to_string()))?;
        Ok(serde_json::json!({ "env": self.env.snapshot()?, "normalize": state }))
    }

    fn restore(&mut self, snapshot: &Snapshot) -> Result<()> {
        let state = VecNormalizeState::deserialize(&snapshot["normalize"])
            .map_err(|e| EnvError::Load { what: "VecNormalize snapshot".into(), reason: e.to_string() })?;
        self.env.restore(&snapshot["env"])?;
        self.load_state(state)
    }

    fn render(&mut self) -> Result<RgbFrame> {
        self.env.render()
    }
    fn render_fps(&self) -> u32 {
        self.env.render_fps()
    }
}
