//! DCGAN (Radford et al. 2016) at 28x28: a generator of transposed convolutions with batch norm and ReLU ending in
//! tanh, a discriminator of strided convolutions with leaky ReLU (slope 0.2) and batch norm after the first layer,
//! and the paper's initialization (convolution weights N(0, 0.02), batch-norm scales N(1, 0.02), biases 0).
//! Images are in [-1, 1] inside the GAN; [`Generator::images`] maps them back to [0, 1].
//!
//! The losses on the discriminator's logits: the non-saturating GAN loss (Goodfellow et al. 2014: the discriminator
//! minimizes `-log D(x) - log(1 - D(G(z)))`, the generator `-log D(G(z))`), or the hinge loss (Lim & Ye 2017:
//! `relu(1 - D(x)) + relu(1 + D(G(z)))` and `-D(G(z))`).

use tch::nn::{self, ModuleT};
use tch::{Kind, Tensor};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GanLoss {
    NonSaturating,
    Hinge,
}

impl GanLoss {
    /// The discriminator's loss (mean over the batch) from its logits on real (B,) and generated (B,) images.
    pub fn discriminator(self, real: &Tensor, fake: &Tensor) -> Tensor {
        match self {
            // -log sigmoid(real) - log(1 - sigmoid(fake)) = softplus(-real) + softplus(fake)
            GanLoss::NonSaturating => (-real).softplus().mean(Kind::Float) + fake.softplus().mean(Kind::Float),
            GanLoss::Hinge => (-real + 1.0).relu().mean(Kind::Float) + (fake + 1.0).relu().mean(Kind::Float),
        }
    }

    /// The generator's loss from the discriminator's logits on generated images (B,).
    pub fn generator(self, fake: &Tensor) -> Tensor {
        match self {
            GanLoss::NonSaturating => (-fake).softplus().mean(Kind::Float), // -log sigmoid(fake)
            GanLoss::Hinge => -fake.mean(Kind::Float),
        }
    }
}

/// The paper's initialization, applied to every variable under `vs` by name: convolution weights N(0, 0.02),
/// batch-norm scales N(1, 0.02), every bias 0. Variables are drawn in name order, so a seed gives one network.
pub fn dcgan_init(vs: &nn::VarStore) {
    let mut variables: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    variables.sort_by(|a, b| a.0.cmp(&b.0));
    tch::no_grad(|| {
        for (name, mut p) in variables {
            if name.ends_with(".bias") {
                let _ = p.zero_();
            } else if name.contains("bn") && name.ends_with(".weight") {
                let _ = p.normal_(1.0, 0.02);
            } else if name.ends_with(".weight") {
                let _ = p.normal_(0.0, 0.02);
            }
        }
    });
}

#[derive(Debug)]
pub struct Generator {
    /// Latent width Z.
    pub latent: i64,
    project: nn::ConvTranspose2D,
    bn1: nn::BatchNorm,
    up1: nn::ConvTranspose2D,
    bn2: nn::BatchNorm,
    up2: nn::ConvTranspose2D,
}

impl Generator {
    /// `width`: channels of the 14x14 layer (64); the 7x7 layer has twice as many.
    pub fn new(vs: &nn::Path, latent: i64, width: i64) -> Self {
        let up = nn::ConvTransposeConfig { stride: 2, padding: 1, bias: false, ..Default::default() };
        let no_bias = nn::ConvTransposeConfig { bias: false, ..Default::default() };
        Generator {
            latent,
            project: nn::conv_transpose2d(vs / "project", latent, 2 * width, 7, no_bias),
            bn1: nn::batch_norm2d(vs / "bn1", 2 * width, Default::default()),
            up1: nn::conv_transpose2d(vs / "up1", 2 * width, width, 4, up),
            bn2: nn::batch_norm2d(vs / "bn2", width, Default::default()),
            up2: nn::conv_transpose2d(vs / "up2", width, 1, 4, nn::ConvTransposeConfig { bias: true, ..up }),
        }
    }

    /// `z`: (B, Z) -> images (B, 1, 28, 28) in [-1, 1].
    pub fn forward_t(&self, z: &Tensor, train: bool) -> Tensor {
        let x = z.view([-1, self.latent, 1, 1]).apply(&self.project).apply_t(&self.bn1, train).relu(); // (B, 2W, 7, 7)
        let x = x.apply(&self.up1).apply_t(&self.bn2, train).relu(); // (B, W, 14, 14)
        x.apply(&self.up2).tanh() // (B, 1, 28, 28)
    }

    /// `z`: (B, Z) -> images (B, 1, 28, 28) in [0, 1], in evaluation mode (batch norm's running statistics).
    pub fn images(&self, z: &Tensor) -> Tensor {
        (self.forward_t(z, false) + 1.0) / 2.0
    }
}

/// Leaky ReLU with DCGAN's slope 0.2, as `lerp(x, relu(x), 0.8) = 0.2 x + 0.8 relu(x)`: x where x > 0, 0.2 x to
/// float rounding elsewhere. tch binds `leaky_relu` only with PyTorch's default slope 0.01. Forward and backward of
/// the discriminator's two activations at batch 128 on one core (benchmarks/peers/leaky_relu_cost.py): F.leaky_relu
/// 1.6 ms, this 4.7-6.0 ms, PReLU with a fixed 0.2 weight 14.7 ms (its backward also reduces a weight gradient),
/// `max(x, 0.2 x)` 32 ms.
fn leaky_relu(x: &Tensor) -> Tensor {
    x.lerp(&x.relu(), 0.8)
}

#[derive(Debug)]
pub struct Discriminator {
    conv1: nn::Conv2D,
    conv2: nn::Conv2D,
    bn2: nn::BatchNorm,
    head: nn::Conv2D,
}

impl Discriminator {
    /// `width`: channels of the 14x14 layer (64); the 7x7 layer has twice as many.
    pub fn new(vs: &nn::Path, width: i64) -> Self {
        let down = nn::ConvConfig { stride: 2, padding: 1, ..Default::default() };
        Discriminator {
            conv1: nn::conv2d(vs / "conv1", 1, width, 4, down),
            conv2: nn::conv2d(vs / "conv2", width, 2 * width, 4, nn::ConvConfig { bias: false, ..down }),
            bn2: nn::batch_norm2d(vs / "bn2", 2 * width, Default::default()),
            head: nn::conv2d(vs / "head", 2 * width, 1, 7, Default::default()),
        }
    }
}

impl ModuleT for Discriminator {
    /// `x`: (B, 1, 28, 28) in [-1, 1] -> logits (B,), "real" when positive.
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let x = leaky_relu(&x.apply(&self.conv1)); // (B, W, 14, 14)
        let x = leaky_relu(&x.apply(&self.conv2).apply_t(&self.bn2, train)); // (B, 2W, 7, 7)
        x.apply(&self.head).view([-1]) // (B,)
    }
}
