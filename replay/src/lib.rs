//! rlx-replay: experience storage for the agents. No tch: buffers are plain vectors, turned into tensors by the
//! agent that samples them.
//!
//! - [`RolloutBuffer`]: on-policy rollouts with GAE(lambda) advantages and TD(lambda) returns (PPO).

mod rollout;

pub use rollout::RolloutBuffer;
