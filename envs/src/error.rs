//! The one error type of rlx-envs: every user mistake is a typed, one-line error, never a panic.

/// Errors returned by environments, wrappers, vector envs and the registry.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EnvError {
    /// `make(id)` with an id that is not registered. `suggestions` holds the closest registered ids.
    #[error("unknown environment id `{id}`{}", suggest(.suggestions))]
    UnknownEnv { id: String, suggestions: Vec<String> },
    /// A discrete action outside `[start, start + n)`, or a MultiDiscrete component outside `[0, nvec[i])`.
    #[error("action {action} is outside the action space {space}")]
    ActionOutOfRange { action: String, space: String },
    /// NaN or infinite component in an action for a Box space.
    #[error("action {action} has a non-finite value (Box space {space})")]
    NonFiniteAction { action: String, space: String },
    /// The action's kind or length does not fit the action space (e.g. a continuous action for a Discrete space).
    #[error("action {action} does not fit the action space {space}")]
    ActionMismatch { action: String, space: String },
    /// A vector env got a batch of the wrong size.
    #[error("wrong batch size: expected {expected} action values ({num_envs} envs x {per_env}), got {got}")]
    BatchSize { expected: usize, num_envs: usize, per_env: usize, got: usize },
    /// `step` before the first `reset` (Gymnasium's OrderEnforcing).
    #[error("cannot call step() before reset()")]
    ResetNeeded,
    /// `set_state` with a state of the wrong length or with non-finite values.
    #[error("invalid physical state for {env}: {reason}")]
    InvalidState { env: &'static str, reason: String },
    /// A configuration value out of its valid range (e.g. zero envs, zero threads).
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// A feature this environment does not have (e.g. physical state of an emulator).
    #[error("{0}")]
    Unsupported(String),
    /// Loading saved wrapper statistics failed.
    #[error("cannot load {what}: {reason}")]
    Load { what: String, reason: String },
    /// A worker thread of a threaded vector env panicked; the pool cannot be used anymore.
    #[error("vector env worker {worker} panicked: {message}")]
    WorkerPanicked { worker: usize, message: String },
}

fn suggest(suggestions: &[String]) -> String {
    if suggestions.is_empty() {
        String::new()
    } else {
        format!("; did you mean {}?", suggestions.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", "))
    }
}

pub type Result<T, E = EnvError> = std::result::Result<T, E>;
