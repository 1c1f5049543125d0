//! rlx-models: neural networks on tch shared by the agents (and, later, the supervised trainers).
//!
//! - [`Mlp`]: fully connected stacks with SB3's orthogonal initialization.
//! - [`NatureCnn`]: the DQN/PPO Atari torso (Mnih et al. 2015), uint8 frames scaled by 1/255 inside.
//! - [`Adam`]: Adam with global-norm clipping over one flat parameter buffer, with inspectable state (moments and
//!   step count) so checkpoints resume exactly.

mod adam;
mod cnn;
mod mlp;

pub use adam::{Adam, AdamConfig};
pub use cnn::NatureCnn;
pub use mlp::{orthogonal_linear, Activation, Mlp};
