//! A small U-Net for 28x28 grey images that predicts the noise in a diffused image, DDPM's epsilon network (Ho et
//! al. 2020) cut down to CPU size: a sinusoidal embedding of the diffusion step through a two-layer MLP, residual
//! blocks (group norm, SiLU, 3x3 convolutions, the step embedding added between them, dropout) at 28x28, 14x14
//! and 7x7, stride-2 convolutions down and nearest-neighbour upsampling with a convolution up, and skip
//! connections concatenated across. The output convolution starts at zero, so the untrained network predicts no
//! noise.

use crate::init;
use tch::nn;
use tch::{Kind, Tensor};

fn conv3x3(vs: nn::Path, cin: i64, cout: i64, stride: i64) -> nn::Conv2D {
    init::conv2d(vs, cin, cout, 3, nn::ConvConfig { stride, padding: 1, ..Default::default() })
}

/// Group norm with up to 8 groups (fewer when the channels do not divide by 8).
fn group_norm(vs: nn::Path, channels: i64) -> nn::GroupNorm {
    let groups = (1..=8).rev().find(|g| channels % g == 0).unwrap_or(1);
    nn::group_norm(vs, groups, channels, Default::default())
}

/// `GN -> SiLU -> conv -> + step embedding -> GN -> SiLU -> dropout -> conv`, plus the input (through a 1x1
/// convolution where the channels change).
#[derive(Debug)]
struct ResBlock {
    norm1: nn::GroupNorm,
    conv1: nn::Conv2D,
    step: nn::Linear,
    norm2: nn::GroupNorm,
    conv2: nn::Conv2D,
    skip: Option<nn::Conv2D>,
    dropout: f64,
}

impl ResBlock {
    fn new(vs: &nn::Path, cin: i64, cout: i64, embed: i64, dropout: f64) -> Self {
        ResBlock {
            norm1: group_norm(vs / "norm1", cin),
            conv1: conv3x3(vs / "conv1", cin, cout, 1),
            step: init::linear(vs / "step", embed, cout, true),
            norm2: group_norm(vs / "norm2", cout),
            conv2: conv3x3(vs / "conv2", cout, cout, 1),
            skip: (cin != cout).then(|| init::conv2d(vs / "skip", cin, cout, 1, Default::default())),
            dropout,
        }
    }

    /// `x`: (B, Cin, H, W), `embedding`: (B, E) -> (B, Cout, H, W).
    fn forward(&self, x: &Tensor, embedding: &Tensor, train: bool) -> Tensor {
        let h = x.apply(&self.norm1).silu().apply(&self.conv1); // (B, Cout, H, W)
        let h = h + embedding.apply(&self.step).unsqueeze(-1).unsqueeze(-1);
        let h = h.apply(&self.norm2).silu().dropout(self.dropout, train).apply(&self.conv2);
        let shortcut = match &self.skip {
            Some(conv) => x.apply(conv),
            None => x.shallow_clone(),
        };
        h + shortcut
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct UNetConfig {
    /// Channels at 28x28; 14x14 and 7x7 have twice as many (32).
    pub channels: i64,
    /// Dropout inside the residual blocks (0.1).
    pub dropout: f64,
}

#[derive(Debug)]
pub struct UNet {
    pub config: UNetConfig,
    embed_fc1: nn::Linear,
    embed_fc2: nn::Linear,
    conv_in: nn::Conv2D,
    down0: ResBlock,
    pool0: nn::Conv2D,
    down1: ResBlock,
    pool1: nn::Conv2D,
    down2: ResBlock,
    middle: ResBlock,
    up2: ResBlock,
    unpool1: nn::Conv2D,
    up1: ResBlock,
    unpool0: nn::Conv2D,
    up0: ResBlock,
    norm_out: nn::GroupNorm,
    conv_out: nn::Conv2D,
}

impl UNet {
    pub fn new(vs: &nn::Path, config: UNetConfig) -> Self {
        let (c, p) = (config.channels, config.dropout);
        let e = 4 * c; // step embedding width
        let block = |name: &str, cin: i64, cout: i64| ResBlock::new(&(vs / name), cin, cout, e, p);
        // PyTorch's default init, then a zero weight (the bias keeps its draw, as `nn.init.zeros_(conv.weight)`).
        let mut conv_out = init::conv2d(vs / "conv_out", c, 1, 3, nn::ConvConfig { padding: 1, ..Default::default() });
        tch::no_grad(|| {
            let _ = conv_out.ws.zero_();
        });
        UNet {
            embed_fc1: init::linear(vs / "embed_fc1", c, e, true),
            embed_fc2: init::linear(vs / "embed_fc2", e, e, true),
            conv_in: conv3x3(vs / "conv_in", 1, c, 1),
            down0: block("down0", c, c),
            pool0: conv3x3(vs / "pool0", c, c, 2),
            down1: block("down1", c, 2 * c),
            pool1: conv3x3(vs / "pool1", 2 * c, 2 * c, 2),
            down2: block("down2", 2 * c, 2 * c),
            middle: block("middle", 2 * c, 2 * c),
            up2: block("up2", 4 * c, 2 * c),
            unpool1: conv3x3(vs / "unpool1", 2 * c, 2 * c, 1),
            up1: block("up1", 4 * c, 2 * c),
            unpool0: conv3x3(vs / "unpool0", 2 * c, 2 * c, 1),
            up0: block("up0", 3 * c, c),
            norm_out: group_norm(vs / "norm_out", c),
            conv_out,
            config,
        }
    }

    /// The transformer-style sinusoidal embedding of the steps `t` (B,) -> (B, channels):
    /// `[sin(t w_k), cos(t w_k)]` with `w_k = 10000^(-k / (half - 1))`.
    pub fn step_embedding(&self, t: &Tensor) -> Tensor {
        let half = self.config.channels / 2;
        let k = Tensor::arange(half, (Kind::Float, t.device()));
        let frequencies = (k * (-(10_000f64.ln()) / (half - 1).max(1) as f64)).exp(); // (half,)
        let angles = t.to_kind(Kind::Float).unsqueeze(1) * frequencies.unsqueeze(0); // (B, half)
        Tensor::cat(&[angles.sin(), angles.cos()], 1)
    }

    /// `x`: (B, 1, 28, 28) noised images, `t`: (B,) steps -> the predicted noise (B, 1, 28, 28).
    pub fn forward_t(&self, x: &Tensor, t: &Tensor, train: bool) -> Tensor {
        let e = self.step_embedding(t).apply(&self.embed_fc1).silu().apply(&self.embed_fc2); // (B, 4C)
        let h0 = x.apply(&self.conv_in); // (B, C, 28, 28)
        let h1 = self.down0.forward(&h0, &e, train); // (B, C, 28, 28)
        let h2 = self.down1.forward(&h1.apply(&self.pool0), &e, train); // (B, 2C, 14, 14)
        let h3 = self.down2.forward(&h2.apply(&self.pool1), &e, train); // (B, 2C, 7, 7)
        let m = self.middle.forward(&h3, &e, train); // (B, 2C, 7, 7)
        let u2 = self.up2.forward(&Tensor::cat(&[&m, &h3], 1), &e, train); // (B, 2C, 7, 7)
        let u1 = upsample(&u2).apply(&self.unpool1); // (B, 2C, 14, 14)
        let u1 = self.up1.forward(&Tensor::cat(&[&u1, &h2], 1), &e, train); // (B, 2C, 14, 14)
        let u0 = upsample(&u1).apply(&self.unpool0); // (B, 2C, 28, 28)
        let u0 = self.up0.forward(&Tensor::cat(&[&u0, &h1], 1), &e, train); // (B, C, 28, 28)
        u0.apply(&self.norm_out).silu().apply(&self.conv_out) // (B, 1, 28, 28)
    }
}

/// Nearest-neighbour upsampling by 2: (B, C, H, W) -> (B, C, 2H, 2W).
fn upsample(x: &Tensor) -> Tensor {
    let size = x.size();
    x.upsample_nearest2d([2 * size[2], 2 * size[3]], Some(2.0), Some(2.0))
}
