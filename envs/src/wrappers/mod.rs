//! Gymnasium's wrappers. Each wraps an `Env` and is an `Env`, so they stack in any order.
//!
//! | rlx | Gymnasium 1.x |
//! |---|---|
//! | [`TimeLimit`] | `TimeLimit` (added by `make` with the registered `max_episode_steps`) |
//! | [`RecordEpisodeStatistics`] | `RecordEpisodeStatistics` (`info["episode"]`) |
//! | [`NormalizeObservation`], [`NormalizeReward`] | same names; SB3's `VecNormalize` is [`crate::vector::VecNormalize`] |
//! | [`ClipAction`], [`RescaleAction`] | same names |
//! | [`FrameStack`] | `FrameStackObservation` |

mod action;
mod frame_stack;
mod normalize;
mod record;
mod time_limit;

pub use action::{ClipAction, RescaleAction};
pub use frame_stack::{FrameStack, StackPadding};
pub use normalize::{NormalizeObservation, NormalizeReward, RunningMeanStd};
pub use record::RecordEpisodeStatistics;
pub use time_limit::TimeLimit;

/// Forwards the `Env` methods a wrapper does not change to `self.env`.
macro_rules! forward_env {
    (spaces) => {
        fn observation_space(&self) -> &$crate::Space {
            self.env.observation_space()
        }
        fn action_space(&self) -> &$crate::Space {
            self.env.action_space()
        }
    };
    // The physical state and its picture: no wrapper changes either.
    (state) => {
        fn state(&self) -> Option<Vec<f64>> {
            self.env.state()
        }
        fn set_state(&mut self, state: &[f64]) -> $crate::error::Result<()> {
            self.env.set_state(state)
        }
        fn render(&mut self) -> $crate::error::Result<$crate::render::RgbFrame> {
            self.env.render()
        }
        fn render_fps(&self) -> u32 {
            self.env.render_fps()
        }
    };
    // A stateless wrapper's snapshot is its env's.
    (snapshot) => {
        fn snapshot(&self) -> $crate::error::Result<$crate::Snapshot> {
            self.env.snapshot()
        }
        fn restore(&mut self, snapshot: &$crate::Snapshot) -> $crate::error::Result<()> {
            self.env.restore(snapshot)
        }
    };
    // A stateful wrapper saves `{"env": <inner snapshot>, "own": <its fields>}`.
    (snapshot $name:literal, $($field:ident: $ty:ty),+) => {
        fn snapshot(&self) -> $crate::error::Result<$crate::Snapshot> {
            Ok(serde_json::json!({ "env": self.env.snapshot()?, "own": $crate::env::to_snapshot(&($(&self.$field,)+))? }))
        }
        fn restore(&mut self, snapshot: &$crate::Snapshot) -> $crate::error::Result<()> {
            let own: ($($ty,)+) = $crate::env::from_snapshot($name, &snapshot["own"])?;
            self.env.restore(&snapshot["env"])?;
            ($(self.$field,)+) = own;
            Ok(())
        }
    };
}
pub(crate) use forward_env;
