//! What keeps a long run trustworthy while it trains: numerical guards (a non-finite loss or gradient never reaches
//! the weights) and clean interrupts (Ctrl-C or SIGTERM asks the loop to stop at the next consistent point and
//! write a checkpoint; the runner installs the signal handler).

use crate::{AgentError, Result};
use std::sync::atomic::{AtomicBool, Ordering};

/// What to do when a loss or a gradient is not finite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NanPolicy {
    /// Stop training with a one-line error naming the step and the term; the last checkpoint stays as it was.
    #[default]
    Error,
    /// Skip that update (the weights and optimizer state stay as they were) and count it
    /// (`charts/skipped_updates`).
    Skip,
}

/// Decides about one update whose `what` ("TD loss", "gradient of the PPO loss") is non-finite at `step`:
/// `Ok(())` to skip it, or the error that stops training.
pub fn non_finite(policy: NanPolicy, what: &str, value: f64, step: u64) -> Result<()> {
    match policy {
        NanPolicy::Skip => Ok(()),
        NanPolicy::Error => Err(AgentError::NonFinite(format!(
            "{what} is {value} at step {step}: training stopped before the update, the last checkpoint is intact \
             (to skip such updates instead: --set nan_policy=skip)"
        ))),
    }
}

static INTERRUPT: AtomicBool = AtomicBool::new(false);

/// Asks the training loop to stop at its next consistent point (the signal handler calls it).
pub fn request_interrupt() {
    INTERRUPT.store(true, Ordering::SeqCst);
}

/// Whether an interrupt was asked for.
pub fn interrupted() -> bool {
    INTERRUPT.load(Ordering::Relaxed)
}
