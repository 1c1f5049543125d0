//! rlx-models: neural networks on tch shared by the agents (and, later, the supervised trainers).
//!
//! - [`Mlp`]: fully connected stacks with SB3's orthogonal initialization.
//! - [`NatureCnn`]: the DQN/PPO Atari torso (Mnih et al. 2015), uint8 frames scaled by 1/255 inside.
//! - [`Adam`]: Adam with inspectable state (moments and step count), so checkpoints resume exactly; and
//!   [`clip_grad_norm`], PyTorch's `clip_grad_norm_`.

mod adam;
mod cnn;
mod mlp;

pub use adam::{clip_grad_norm, Adam, AdamConfig};
pub use cnn::NatureCnn;
pub use mlp::{orthogonal_linear, Activation, Mlp};
