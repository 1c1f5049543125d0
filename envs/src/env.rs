//! The `Env` trait: Gymnasium 1.x's API, with allocation-free `*_into` methods for the hot path.

use crate::error::{EnvError, Result};
use crate::render::RgbFrame;
use crate::space::Space;

/// An action, borrowed: what `Env::step` takes. Which variant is valid depends on the action space.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Action<'a> {
    Discrete(i64),
    MultiDiscrete(&'a [i64]),
    Continuous(&'a [f32]),
}

/// Return and length of a finished episode, as Gymnasium's `RecordEpisodeStatistics` reports them
/// (`info["episode"]["r"]` and `["l"]`).
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct EpisodeStats {
    /// Sum of the raw rewards (before any normalization or clipping wrapper applied after the recorder).
    pub ret: f64,
    /// Number of steps.
    pub len: u64,
}

/// Gymnasium's `info` dict, as a small fixed struct: no string map in the hot path.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Info {
    /// Set on the step that ends an episode by `RecordEpisodeStatistics`.
    pub episode: Option<EpisodeStats>,
    /// Remaining lives (Atari), when the env has them.
    pub lives: Option<u32>,
}

/// What one `step` returns besides the observation (`reward, terminated, truncated, info`).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Step {
    pub reward: f64,
    /// The MDP reached a terminal state (no bootstrapping from the next observation).
    pub terminated: bool,
    /// The episode was cut short (time limit): agents bootstrap from the final observation.
    pub truncated: bool,
    pub info: Info,
}

impl Step {
    /// The episode is over, either way.
    pub fn done(&self) -> bool {
        self.terminated || self.truncated
    }
}

/// A Gymnasium-style environment.
///
/// The required methods write the observation into a caller-owned buffer of `observation_space().flat_dim()`
/// elements, so vector envs step without allocating. `reset` and `step` are the allocating Gymnasium-shaped
/// conveniences.
pub trait Env {
    /// Observation element: `f32` for classic control, `u8` for Atari frames.
    type Obs: Copy + Default + Send + Sync + 'static;

    fn observation_space(&self) -> &Space;
    fn action_space(&self) -> &Space;

    /// Starts an episode. `Some(seed)` reseeds the env's random generator (Gymnasium: `reset(seed=...)`);
    /// `None` continues the current stream.
    fn reset_into(&mut self, seed: Option<u64>, obs: &mut [Self::Obs]) -> Info;

    /// Advances one step. Errors for an action outside the action space or before the first reset.
    fn step_into(&mut self, action: Action<'_>, obs: &mut [Self::Obs]) -> Result<Step>;

    /// The physical state (e.g. CartPole's `[x, x_dot, theta, theta_dot]` in f64), for checks against Gymnasium.
    fn state(&self) -> Option<Vec<f64>> {
        None
    }

    /// Overwrites the physical state, as `env.unwrapped.state = ...` does in Gymnasium.
    fn set_state(&mut self, _state: &[f64]) -> Result<()> {
        Err(EnvError::Unsupported("this environment has no settable physical state".into()))
    }

    /// Everything needed to continue exactly from here (physical state, random generator, counters), for
    /// checkpoints that resume bit for bit. `restore` takes what `snapshot` returned.
    fn snapshot(&self) -> Result<Snapshot> {
        Err(EnvError::Unsupported("this environment cannot be snapshotted".into()))
    }

    fn restore(&mut self, _snapshot: &Snapshot) -> Result<()> {
        Err(EnvError::Unsupported("this environment cannot be restored from a snapshot".into()))
    }

    /// The current frame as Gymnasium's `render()` draws it in `rgb_array` mode (for videos); an error for envs
    /// without a renderer or before the first reset.
    fn render(&mut self) -> Result<RgbFrame> {
        crate::render::unsupported()
    }

    /// Frames per second at which a video of this env plays in real time (Gymnasium's `metadata["render_fps"]`).
    fn render_fps(&self) -> u32 {
        30
    }

    /// Gymnasium's `reset(seed) -> (obs, info)`.
    fn reset(&mut self, seed: Option<u64>) -> (Vec<Self::Obs>, Info) {
        let mut obs = vec![Self::Obs::default(); self.observation_space().flat_dim()];
        let info = self.reset_into(seed, &mut obs);
        (obs, info)
    }

    /// Gymnasium's `step(action) -> (obs, reward, terminated, truncated, info)`.
    fn step(&mut self, action: Action<'_>) -> Result<(Vec<Self::Obs>, Step)> {
        let mut obs = vec![Self::Obs::default(); self.observation_space().flat_dim()];
        let step = self.step_into(action, &mut obs)?;
        Ok((obs, step))
    }
}

/// A type-erased env, as `make` returns it.
pub type BoxedEnv<T = f32> = Box<dyn Env<Obs = T> + Send>;

impl<T: Copy + Default + Send + Sync + 'static> Env for Box<dyn Env<Obs = T> + Send> {
    type Obs = T;
    fn observation_space(&self) -> &Space {
        (**self).observation_space()
    }
    fn action_space(&self) -> &Space {
        (**self).action_space()
    }
    fn reset_into(&mut self, seed: Option<u64>, obs: &mut [T]) -> Info {
        (**self).reset_into(seed, obs)
    }
    fn step_into(&mut self, action: Action<'_>, obs: &mut [T]) -> Result<Step> {
        (**self).step_into(action, obs)
    }
    fn state(&self) -> Option<Vec<f64>> {
        (**self).state()
    }
    fn set_state(&mut self, state: &[f64]) -> Result<()> {
        (**self).set_state(state)
    }
    fn snapshot(&self) -> Result<Snapshot> {
        (**self).snapshot()
    }
    fn restore(&mut self, snapshot: &Snapshot) -> Result<()> {
        (**self).restore(snapshot)
    }
    fn render(&mut self) -> Result<RgbFrame> {
        (**self).render()
    }
    fn render_fps(&self) -> u32 {
        (**self).render_fps()
    }
}

/// A saved env state (JSON, so checkpoints stay readable and every env can define its own fields).
pub type Snapshot = serde_json::Value;

/// An `EnvRng` inside a snapshot, as a JSON string: its 128-bit state does not fit `serde_json::Value` numbers.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct RngText(String);

impl RngText {
    pub(crate) fn new(rng: &EnvRng) -> Self {
        RngText(serde_json::to_string(rng).expect("PCG state serializes"))
    }
    pub(crate) fn rng(&self) -> Result<EnvRng> {
        // Snapshots from before NumPy's seeding hold a bare PCG64 (no buffered half-draw).
        serde_json::from_str(&self.0)
            .or_else(|_| serde_json::from_str(&self.0).map(|pcg| EnvRng { pcg, buffered: None }))
            .map_err(|e| EnvError::Load { what: "random generator state".into(), reason: e.to_string() })
    }
}

/// Serializes an env's saved fields.
pub(crate) fn to_snapshot<S: serde::Serialize>(saved: &S) -> Result<Snapshot> {
    serde_json::to_value(saved).map_err(|e| EnvError::Unsupported(format!("cannot snapshot the env: {e}")))
}

/// Reads back what `to_snapshot` wrote.
pub(crate) fn from_snapshot<S: serde::de::DeserializeOwned>(env: &str, snapshot: &Snapshot) -> Result<S> {
    S::deserialize(snapshot).map_err(|e| EnvError::Load { what: format!("{env} snapshot"), reason: e.to_string() })
}

/// The per-env random generator: NumPy's PCG64 with its seeding and conversions (see [`crate::NpRandom`]).
pub type EnvRng = crate::NpRandom;

/// Seeds an env generator from a Gymnasium-style integer seed: `np.random.default_rng(seed)`, as Gymnasium's
/// `seeding.np_random`.
pub fn seeded_rng(seed: u64) -> EnvRng {
    EnvRng::from_seed(seed)
}

/// A generator for envs reset without a seed before any seeded reset (Gymnasium draws OS entropy).
pub fn entropy_rng() -> EnvRng {
    EnvRng::from_entropy()
}

/// Checks a physical state's length and finiteness for `set_state`.
pub(crate) fn check_state(env: &'static str, state: &[f64], len: usize) -> Result<()> {
    if state.len() != len {
        return Err(EnvError::InvalidState { env, reason: format!("expected {len} values, got {}", state.len()) });
    }
    if !state.iter().all(|v| v.is_finite()) {
        return Err(EnvError::InvalidState { env, reason: format!("non-finite value in {state:?}") });
    }
    Ok(())
}
