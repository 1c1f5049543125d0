//! rlx-replay: experience storage for the agents. No tch: buffers are plain vectors, turned into tensors by the
//! agent that samples them.
//!
//! - [`RolloutBuffer`]: on-policy rollouts with GAE(lambda) advantages and TD(lambda) returns (PPO).
//! - [`ReplayBuffer`]: off-policy transitions (DQN), each frame stored once with stacks rebuilt at sampling time,
//!   timeouts kept apart from terminations, n-step returns, uniform or prioritized sampling ([`SumTree`]), and
//!   a checksummed file for resume.
//! - [`SharedReplay`] / [`ReplayWriter`]: the same buffer shared by actor threads (steps sent over a bounded
//!   channel, applied by the learner that owns the buffer).
//! - [`checksum`]: the FNV-1a checksum of every file rlx writes for resume.

pub mod checksum;
mod error;
mod persist;
mod replay;
mod rollout;
mod shared;
mod sum_tree;

pub use error::{ReplayError, Result};
pub use persist::Element;
pub use replay::{Batch, Padding, ReplayBuffer, ReplayConfig, Step};
pub use rollout::RolloutBuffer;
pub use shared::{ReplayWriter, SharedReplay};
pub use sum_tree::SumTree;
