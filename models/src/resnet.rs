//! A small residual network (He et al. 2016, the CIFAR variant of section 4.2): a 3x3 stem, three stages of basic
//! blocks at 16, 32 and 64 channels (the last two halve the resolution), global average pooling and a linear
//! classifier. Shortcuts that change shape are 1x1 convolutions with batch norm (option B). With 3 blocks per stage
//! it is ResNet-20: 0.27M parameters.
//!
//! On the CPU the convolutions run channels-last: their weights are re-laid out on every call (see
//! [`channels_last`]), oneDNN then computes in NHWC without its layout reorders, and batch norm, ReLU and the
//! additions keep that layout. PyTorch's own ResNet-20 runs a training step of 128 28x28 images 1.25x faster so with
//! one thread, and inference on 8 to 1,000 images 1.28-1.39x (`benchmarks/peers/conv_layout.py --model resnet`; level
//! for one image). On a GPU (cuDNN, float32) the tensors stay contiguous.

use crate::cnn::channels_last;
use crate::init;
use crate::ImageClassifier;
use tch::nn::{self, Module, ModuleT};
use tch::{Device, Tensor};

/// A bias-free convolution that runs channels-last on the CPU: its weight (kept contiguous, as the optimizer's flat
/// buffer holds it) is re-laid out on every call, and the output comes back channels-last too.
#[derive(Debug)]
struct Conv {
    layer: nn::Conv2D,
    stride: i64,
    padding: i64,
}

impl Conv {
    fn new(vs: nn::Path, cin: i64, cout: i64, kernel: i64, stride: i64) -> Self {
        let padding = kernel / 2;
        let config = nn::ConvConfig { stride, padding, bias: false, ..Default::default() };
        Conv { layer: init::conv2d(vs, cin, cout, kernel, config), stride, padding }
    }
}

impl Module for Conv {
    fn forward(&self, x: &Tensor) -> Tensor {
        if x.device() == Device::Cpu {
            x.conv2d(&channels_last(&self.layer.ws), None::<Tensor>, self.stride, self.padding, 1, 1)
        } else {
            x.apply(&self.layer)
        }
    }
}

fn conv3x3(vs: nn::Path, cin: i64, cout: i64, stride: i64) -> Conv {
    Conv::new(vs, cin, cout, 3, stride)
}

/// Two 3x3 convolutions with batch norm and a shortcut: `relu(bn(conv(relu(bn(conv(x))))) + shortcut(x))`.
#[derive(Debug)]
struct BasicBlock {
    conv1: Conv,
    bn1: nn::BatchNorm,
    conv2: Conv,
    bn2: nn::BatchNorm,
    /// A 1x1 strided projection where the block changes channels or resolution.
    projection: Option<(Conv, nn::BatchNorm)>,
}

impl BasicBlock {
    fn new(vs: &nn::Path, cin: i64, cout: i64, stride: i64) -> Self {
        let projection = (stride != 1 || cin != cout)
            .then(|| (Conv::new(vs / "proj", cin, cout, 1, stride), init::batch_norm2d(vs / "proj_bn", cout)));
        BasicBlock {
            conv1: conv3x3(vs / "conv1", cin, cout, stride),
            bn1: init::batch_norm2d(vs / "bn1", cout),
            conv2: conv3x3(vs / "conv2", cout, cout, 1),
            bn2: init::batch_norm2d(vs / "bn2", cout),
            projection,
        }
    }
}

impl ModuleT for BasicBlock {
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let y = x.apply(&self.conv1).apply_t(&self.bn1, train).relu();
        let y = y.apply(&self.conv2).apply_t(&self.bn2, train);
        let shortcut = match &self.projection {
            Some((conv, bn)) => x.apply(conv).apply_t(bn, train),
            None => x.shallow_clone(),
        };
        (y + shortcut).relu()
    }
}

#[derive(Debug)]
pub struct ResNet {
    stem: Conv,
    stem_bn: nn::BatchNorm,
    blocks: Vec<BasicBlock>,
    fc: nn::Linear,
}

impl ResNet {
    /// `blocks_per_stage` basic blocks in each of the three stages (3: ResNet-20), for `channels`-channel images.
    pub fn new(vs: &nn::Path, channels: i64, classes: i64, blocks_per_stage: usize) -> Self {
        let widths = [16, 32, 64];
        let mut blocks = Vec::new();
        let mut cin = widths[0];
        for (stage, &width) in widths.iter().enumerate() {
            for b in 0..blocks_per_stage {
                let stride = if stage > 0 && b == 0 { 2 } else { 1 };
                blocks.push(BasicBlock::new(&(vs / format!("stage{stage}") / format!("block{b}")), cin, width, stride));
                cin = width;
            }
        }
        ResNet {
            stem: conv3x3(vs / "stem", channels, widths[0], 1),
            stem_bn: init::batch_norm2d(vs / "stem_bn", widths[0]),
            blocks,
            fc: init::linear(vs / "fc", cin, classes, true),
        }
    }
}

impl ResNet {
    /// The pooled activations before the classifier (B, 64).
    fn pooled(&self, x: &Tensor, train: bool) -> Tensor {
        let mut x = x.apply(&self.stem).apply_t(&self.stem_bn, train).relu(); // (B, 16, H, W)
        for block in &self.blocks {
            x = x.apply_t(block, train);
        }
        x.adaptive_avg_pool2d([1, 1]).flatten(1, -1) // (B, 64)
    }
}

impl ModuleT for ResNet {
    /// `x`: (B, C, H, W) -> logits (B, classes). For 28x28 inputs: 16x28x28, 32x14x14, 64x7x7, then pooled.
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        self.pooled(x, train).apply(&self.fc) // (B, classes)
    }
}

impl ImageClassifier for ResNet {
    fn features(&self, x: &Tensor) -> Tensor {
        self.pooled(x, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Kind;

    #[test]
    fn channels_last_convolutions_compute_what_contiguous_ones_do() {
        let vs = nn::VarStore::new(Device::Cpu);
        let conv = conv3x3(vs.root() / "c", 3, 8, 2);
        let x = Tensor::randn([4, 3, 9, 9], (Kind::Float, Device::Cpu));
        let y = x.apply(&conv); // (4, 8, 5, 5)
        assert_eq!(y.size(), [4, 8, 5, 5]);
        // NHWC in memory: channels vary fastest.
        assert_eq!(y.stride(), [200, 1, 40, 8]);
        assert!(y.allclose(&x.apply(&conv.layer), 1e-5, 1e-5, false));
    }
}
