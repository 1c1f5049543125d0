use crate::mlp::orthogonal_linear;
use tch::nn::{self, Module};
use tch::{Kind, Tensor};

/// The Nature DQN torso: conv 32x8x8/4, 64x4x4/2, 64x3x3/1, then a 512-unit linear layer, ReLU throughout.
/// Takes `(B, C, 84, 84)` frames as uint8 (or float in [0, 255]) and scales them by 1/255 inside, as SB3 does.
#[derive(Debug)]
pub struct NatureCnn {
    conv1: nn::Conv2D,
    conv2: nn::Conv2D,
    conv3: nn::Conv2D,
    fc: nn::Linear,
}

impl NatureCnn {
    pub const FEATURES: i64 = 512;

    /// `in_channels`: stacked frames (4). `gain`: orthogonal init gain (SB3: sqrt(2)); `None` = PyTorch default.
    pub fn new(path: &nn::Path, in_channels: i64, gain: Option<f64>) -> Self {
        let conv = |p: nn::Path, i, o, k, s| {
            let mut config = nn::ConvConfig { stride: s, ..Default::default() };
            if let Some(gain) = gain {
                config.ws_init = nn::Init::Orthogonal { gain };
                config.bs_init = nn::Init::Const(0.0);
            }
            nn::conv2d(p, i, o, k, config)
        };
        NatureCnn {
            conv1: conv(path / "conv1", in_channels, 32, 8, 4),
            conv2: conv(path / "conv2", 32, 64, 4, 2),
            conv3: conv(path / "conv3", 64, 64, 3, 1),
            // 84x84 -> 20x20 -> 9x9 -> 7x7
            fc: orthogonal_linear(path / "fc", 64 * 7 * 7, Self::FEATURES, gain),
        }
    }
}

impl Module for NatureCnn {
    fn forward(&self, x: &Tensor) -> Tensor {
        let x = x.to_kind(Kind::Float) / 255.0; // (B, C, 84, 84)
        let x = self.conv1.forward(&x).relu(); // (B, 32, 20, 20)
        let x = self.conv2.forward(&x).relu(); // (B, 64, 9, 9)
        let x = self.conv3.forward(&x).relu().flatten(1, -1); // (B, 3136)
        self.fc.forward(&x).relu() // (B, 512)
    }
}
