//! rlx-agents: reinforcement-learning algorithms on tch, one file each, read top to bottom like CleanRL.
//!
//! - [`ppo`]: PPO as Stable-Baselines3 implements it (discrete and continuous, MLP and NatureCNN policies).
//! - [`dqn`]: DQN as Stable-Baselines3 implements it, with Double DQN, dueling, n-step and prioritized replay.
//! - [`rlhf`]: the RLHF pipeline on a GPT (pretraining so far; SFT, reward model, PPO and DPO to come).
//! - Shared machinery: [`policy`] (actor-critic networks), [`qnetwork`] (Q-networks), [`distributions`], [`schedule`] (constant/linear),
//!   [`logger`] (TensorBoard + CSV + progress bar), [`checkpoint`] (atomic, checksummed safetensors files),
//!   [`guard`] (non-finite guards, interrupts), [`device`].

pub mod checkpoint;
pub mod device;
pub mod distributions;
pub mod dqn;
pub mod guard;
pub mod logger;
pub mod policy;
pub mod ppo;
pub mod qnetwork;
pub mod rlhf;
pub mod schedule;

/// Errors of the agents: user-facing, one line each.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(transparent)]
    Env(#[from] rlx_envs::EnvError),
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("checkpoint {path}: {reason}")]
    Checkpoint { path: String, reason: String },
    #[error("{0}")]
    Io(String),
    /// A failure while training that is none of the above (an evaluation's env, a panicked actor thread).
    #[error("{0}")]
    Runtime(String),
    /// A non-finite loss or gradient under `nan_policy = "error"`.
    #[error("{0}")]
    NonFinite(String),
    /// Training stopped on Ctrl-C or SIGTERM after writing a checkpoint at `step`.
    #[error("interrupted at step {step}; a checkpoint was written")]
    Interrupted { step: u64 },
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
}

pub type Result<T, E = AgentError> = std::result::Result<T, E>;

/// An agent is built for `configured` envs; the vector env it is given must have that many.
pub(crate) fn check_n_envs(env_has: usize, configured: usize) -> Result<()> {
    if env_has != configured {
        return Err(AgentError::Config(format!("the env has {env_has} copies, config.n_envs is {configured}")));
    }
    Ok(())
}
