//! rlx-models: neural networks on tch shared by the agents (and, later, the supervised trainers).
//!
//! - [`Mlp`]: fully connected stacks with SB3's orthogonal initialization.
//! - [`NatureCnn`]: the DQN/PPO Atari torso (Mnih et al. 2015), uint8 frames scaled by 1/255 inside.
//! - [`Optimizer`] ([`Adam`], RMSprop): global-norm clipping and the update over one flat parameter buffer, with
//!   inspectable state (moments and step count) so checkpoints resume exactly.

mod cnn;
mod mlp;
mod optimizer;

pub use cnn::{NatureCnn, Precision};
pub use mlp::{orthogonal_linear, Activation, Mlp};
pub use optimizer::{Adam, AdamConfig, Optimizer, RmsPropConfig, Rule};
