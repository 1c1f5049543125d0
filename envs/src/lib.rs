//! rlx-envs: reinforcement-learning environments with Gymnasium 1.x's API and dynamics, and fast vector envs.
//!
//! - [`Env`]: `reset(seed) -> (obs, info)`, `step(action) -> (obs, reward, terminated, truncated, info)`, plus the
//!   allocation-free `reset_into`/`step_into` that vector envs use.
//! - [`Space`]: `Discrete`, `Box`, `MultiDiscrete` with `sample` and `contains`.
//! - [`NpRandom`]: NumPy's `default_rng(seed)` draw for draw, which seeds envs and spaces as Gymnasium does.
//! - [`make`]: Gymnasium ids (`CartPole-v1`, ...) to envs wrapped in their `TimeLimit`.
//! - [`classic`]: the five classic-control envs, numerically identical to Gymnasium (checked by the parity test).
//! - [`wrappers`]: TimeLimit, RecordEpisodeStatistics, normalization, action clipping/rescaling, frame stacking.
//! - [`atari`]: Atari games through ALE with SB3's preprocessing built in ([`atari::make_atari`]).
//! - [`render`]: RGB frames of Atari screens and of the classic envs drawn as Gymnasium draws them.
//! - [`vector`]: [`SyncVecEnv`], the EnvPool-style [`ThreadedVecEnv`]
//!   (work stealing) and [`AsyncVecEnv`] (EnvPool's async mode).
//!
//! This crate does not depend on tch.

pub mod atari;
pub mod classic;
pub(crate) mod env;
pub mod error;
pub mod np_random;
mod registry;
pub mod render;
pub mod space;
pub mod vector;
pub mod wrappers;

pub use env::{entropy_rng, seeded_rng, Action, BoxedEnv, Env, EnvRng, EpisodeStats, Info, Snapshot, Step};
pub use error::{EnvError, Result};
pub use np_random::NpRandom;
pub use registry::{make, registered_ids, spec, unknown_env, EnvSpec};
pub use space::{DType, Sample, Space};
pub use vector::{Actions, AsyncVecEnv, Batch, SyncVecEnv, ThreadedVecEnv, VecEnv};
