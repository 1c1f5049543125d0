use crate::mlp::orthogonal_linear;
use tch::nn::{self, Module};
use tch::{Kind, Tensor};

/// The strides of the three convolutions.
const STRIDES: [i64; 3] = [4, 2, 1];

/// Arithmetic of a network's forward pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// f32 throughout (PyTorch's default).
    #[default]
    F32,
    /// Mixed precision: the convolutions and the 512-unit layer in bfloat16 (f32 weights, gradients and
    /// optimizer), as `torch.autocast(dtype=torch.bfloat16)`; fast where the CPU has AVX-512 BF16 or AMX.
    Bf16,
}

impl Precision {
    pub fn kind(self) -> Kind {
        match self {
            Precision::F32 => Kind::Float,
            Precision::Bf16 => Kind::BFloat16,
        }
    }

    /// A warning when bf16 is asked for on a CPU without native bf16 arithmetic (AVX-512 BF16 or AMX, from
    /// /proc/cpuinfo): LibTorch then emulates it, and mixed precision is far slower than f32 (measured 2026-12-03 on
    /// an AVX2-only EPYC: PPO Breakout 20 SPS in bf16 against 189 in f32; 1.68x faster than f32 on an AVX-512 BF16 one).
    pub fn cpu_warning(self, device: tch::Device) -> Option<String> {
        if self != Precision::Bf16 || device != tch::Device::Cpu {
            return None;
        }
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").ok()?;
        let flags = cpuinfo.lines().find(|l| l.starts_with("flags"))?;
        let native = flags.split_whitespace().any(|f| f == "avx512_bf16" || f == "amx_bf16");
        (!native).then(|| {
            "precision = bf16, but this CPU has no AVX-512 BF16 or AMX: LibTorch emulates bf16, which is about 10x \
             slower than f32 here (use precision = f32)"
                .to_string()
        })
    }
}

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
    /// The smallest CPU batch that runs channels-last: below it (an actor's forward pass over a few envs) the copies
    /// cost more than oneDNN saves (`benchmarks/peers/conv_layout.py`: 0.91x at 8 frames, 1.13x for a DQN step of
    /// 32, 1.30x for a PPO minibatch of 256).
    pub const CHANNELS_LAST_BATCH: i64 = 32;

    /// `in_channels`: stacked frames (4). `gain`: orthogonal init gain (SB3: sqrt(2)); `None` = PyTorch default.
    pub fn new(path: &nn::Path, in_channels: i64, gain: Option<f64>) -> Self {
        let conv = |p: nn::Path, i, o, k, s| {
            let config = nn::ConvConfig { stride: s, ..Default::default() };
            // With a gain, tch's default draw is replaced below (and leaves the random stream as it always was).
            let mut conv = match gain {
                None => crate::init::conv2d(p, i, o, k, config),
                Some(_) => nn::conv2d(p, i, o, k, config),
            };
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
            conv1: conv(path / "conv1", in_channels, 32, 8, STRIDES[0]),
            conv2: conv(path / "conv2", 32, 64, 4, STRIDES[1]),
            conv3: conv(path / "conv3", 64, 64, 3, STRIDES[2]),
            // 84x84 -> 20x20 -> 9x9 -> 7x7
            fc: orthogonal_linear(path / "fc", 64 * 7 * 7, Self::FEATURES, gain),
        }
    }
}

impl NatureCnn {
    /// The forward pass computed in `compute` (`Kind::Float`, or `Kind::BFloat16` for mixed precision: the weights
    /// stay f32 and are cast on the way, so gradients and the optimizer stay f32, as `torch.autocast` does);
    /// features come back as f32.
    ///
    /// On the CPU, batches of [`Self::CHANNELS_LAST_BATCH`] frames or more run their convolutions channels-last (see
    /// [`channels_last`]); the output of each stays channels-last, and the flatten before the 512-unit layer reads it
    /// back in (C, H, W) order, so the features are the same numbers up to float rounding.
    pub fn forward_in(&self, x: &Tensor, compute: Kind) -> Tensor {
        let relayout = x.device() == tch::Device::Cpu && x.size()[0] >= Self::CHANNELS_LAST_BATCH;
        let layout = |t: Tensor| if relayout { channels_last(&t) } else { t };
        let conv = |x: &Tensor, c: &nn::Conv2D, stride: i64| {
            let bias = c.bs.as_ref().map(|b| b.to_kind(compute));
            x.conv2d(&layout(c.ws.to_kind(compute)), bias.as_ref(), stride, 0, 1, 1)
        };
        // Integers up to 255 are exact in bf16, so the cast comes before the scaling.
        let x = layout(x.to_kind(compute) / 255.0); // (B, C, 84, 84)
        let x = conv(&x, &self.conv1, STRIDES[0]).relu(); // (B, 32, 20, 20)
        let x = conv(&x, &self.conv2, STRIDES[1]).relu(); // (B, 64, 9, 9)
        let x = conv(&x, &self.conv3, STRIDES[2]).relu().flatten(1, -1); // (B, 3136)
        let bias = self.fc.bs.as_ref().map(|b| b.to_kind(compute));
        let features = x.linear(&self.fc.ws.to_kind(compute), bias.as_ref()).relu(); // (B, 512)
        features.to_kind(Kind::Float)
    }
}

/// `x` (B, C, H, W) with the same values laid out channels-last (NHWC in memory: PyTorch's
/// `memory_format=torch.channels_last`, which tch cannot name, as a permuted copy). oneDNN's CPU convolutions then
/// skip their layout reorders: NatureCNN's forward and backward on a PPO minibatch of 256 frames took 201 ms instead
/// of 260 ms with one thread on an AVX2 EPYC (`benchmarks/peers/conv_layout.py`, PyTorch 2.11 = the same LibTorch,
/// median of 5). Converting the weights on every call costs little and keeps the parameters contiguous, as the
/// optimizer's flat buffer holds them.
pub fn channels_last(x: &Tensor) -> Tensor {
    x.permute([0, 2, 3, 1]).contiguous().permute([0, 3, 1, 2])
}

impl Module for NatureCnn {
    fn forward(&self, x: &Tensor) -> Tensor {
        self.forward_in(x, Kind::Float)
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

    #[test]
    fn channels_last_convolutions_give_the_contiguous_features() {
        tch::manual_seed(2);
        let vs = nn::VarStore::new(Device::Cpu);
        let cnn = NatureCnn::new(&vs.root(), 4, Some(2f64.sqrt()));
        let frames = Tensor::randint(256, [NatureCnn::CHANNELS_LAST_BATCH, 4, 84, 84], (Kind::Uint8, Device::Cpu));
        let laid_out = channels_last(&frames);
        assert_eq!(laid_out.size(), frames.size());
        assert_eq!(laid_out.stride(), [84 * 84 * 4, 1, 84 * 4, 4], "NHWC in memory");
        assert!(laid_out.equal(&frames), "the same values");
        // The same network on contiguous (NCHW) tensors throughout, as SB3's NatureCNN computes it.
        let conv = |x: &Tensor, c: &nn::Conv2D, stride| x.conv2d(&c.ws, c.bs.as_ref(), stride, 0, 1, 1).relu();
        let x = frames.to_kind(Kind::Float) / 255.0;
        let x = conv(&conv(&conv(&x, &cnn.conv1, 4), &cnn.conv2, 2), &cnn.conv3, 1);
        assert!(x.is_contiguous());
        let plain = x.flatten(1, -1).apply(&cnn.fc).relu();
        let ours = cnn.forward(&frames);
        let error = f64::try_from((&ours - &plain).abs().max()).unwrap() / f64::try_from(plain.abs().max()).unwrap();
        println!("channels-last vs contiguous features: {error:.2e} relative");
        assert!(error < 1e-5, "features differ by {error}");
    }

    #[test]
    fn bf16_mixed_precision_keeps_the_features_and_the_gradient_direction() {
        // What mixed precision must preserve for learning to stay equal: the features (bf16 keeps 8 bits of
        // mantissa, about 0.4% per value) and the direction of the f32 weights' gradient.
        tch::manual_seed(1);
        let vs = nn::VarStore::new(Device::Cpu);
        let cnn = NatureCnn::new(&vs.root(), 4, Some(2f64.sqrt()));
        let frames = Tensor::randint(256, [32, 4, 84, 84], (Kind::Uint8, Device::Cpu));
        let weights = Tensor::randn([NatureCnn::FEATURES], (Kind::Float, Device::Cpu));
        let run = |precision: Precision| {
            let features = cnn.forward_in(&frames, precision.kind());
            assert_eq!(features.kind(), Kind::Float);
            let loss = (&features * &weights).sum(Kind::Float);
            let params: Vec<Tensor> = vs.trainable_variables();
            let grads = Tensor::run_backward(&[&loss], &params, false, false);
            let flat = Tensor::cat(&grads.iter().map(|g| g.reshape([-1])).collect::<Vec<_>>(), 0);
            (features.detach(), flat)
        };
        let (f32_features, f32_grad) = run(Precision::F32);
        let (bf16_features, bf16_grad) = run(Precision::Bf16);
        let relative = |a: &Tensor, b: &Tensor| f64::try_from((a - b).norm() / b.norm()).unwrap();
        let cosine =
            f64::try_from((&bf16_grad * &f32_grad).sum(Kind::Float) / (bf16_grad.norm() * f32_grad.norm())).unwrap();
        let feature_error = relative(&bf16_features, &f32_features);
        println!("bf16 vs f32: features {feature_error:.5} relative error, gradient cosine {cosine:.6}");
        assert!(feature_error < 0.02, "features differ by {feature_error}");
        assert!(cosine > 0.999, "gradient cosine {cosine}");
        assert!(relative(&bf16_grad, &f32_grad) < 0.05, "gradient norm differs");
    }
}
