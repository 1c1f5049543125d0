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
            let mut conv = nn::conv2d(p, i, o, k, nn::ConvConfig { stride: s, ..Default::default() });
            if let Some(gain) = gain {
                // tch's `Init::Orthogonal` leaves a conv kernel flattened to (out, in * k * k): draw the matrix
                // that way, as torch.nn.init.orthogonal_ does, and fold it back into (out, in, k, k).
                let shape = conv.ws.size();
                let matrix = nn::init::init(
                    nn::Init::Orthogonal { gain },
                    &[shape[0], shape[1..].iter().product()],
                    conv.ws.device(),
                );
                tch::no_grad(|| {
                    conv.ws.copy_(&matrix.reshape(&shape));
                    if let Some(bias) = &mut conv.bs {
                        let _ = bias.zero_();
                    }
                });
            }
            conv
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

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind, Tensor};

    #[test]
    fn orthogonal_kernels_keep_their_shape_and_are_orthogonal() {
        tch::manual_seed(0);
        let vs = nn::VarStore::new(Device::Cpu);
        let cnn = NatureCnn::new(&vs.root(), 4, Some(2f64.sqrt()));
        for (conv, shape) in [(&cnn.conv1, [32, 4, 8, 8]), (&cnn.conv2, [64, 32, 4, 4]), (&cnn.conv3, [64, 64, 3, 3])] {
            assert_eq!(conv.ws.size(), shape);
            // (out, in * k * k) with out <= in * k * k: the rows are orthogonal with norm gain, W W^T = 2 I.
            let w = conv.ws.reshape([shape[0], -1]);
            let gram = w.matmul(&w.transpose(0, 1));
            let want = Tensor::eye(shape[0], (Kind::Float, Device::Cpu)) * 2.0;
            assert!(gram.allclose(&want, 1e-4, 1e-4, false), "{shape:?}");
            assert_eq!(f64::try_from(conv.bs.as_ref().unwrap().abs().sum(Kind::Float)).unwrap(), 0.0);
        }
        let frames = Tensor::randint(256, [2, 4, 84, 84], (Kind::Uint8, Device::Cpu));
        assert_eq!(cnn.forward(&frames).size(), [2, NatureCnn::FEATURES]);
    }
}
