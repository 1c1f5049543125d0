//! Typed errors of the replay crate.

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("bad replay configuration: {0}")]
    Config(String),
    #[error("the replay buffer has no transition to sample yet")]
    Empty,
    #[error("cannot write replay file {path}: {reason}")]
    Write { path: String, reason: String },
    #[error("replay file {path}: {reason}")]
    Load { path: String, reason: String },
}

pub type Result<T, E = ReplayError> = std::result::Result<T, E>;
