//! A small residual network (He et al. 2016, the CIFAR variant of section 4.2): a 3x3 stem, three stages of basic
//! blocks at 16, 32 and 64 channels (the last two halve the resolution), global average pooling and a linear
//! classifier. Shortcuts that change shape are 1x1 convolutions with batch norm (option B). With 3 blocks per stage
//! it is ResNet-20: 0.27M parameters.

use crate::init;
use crate::ImageClassifier;
use tch::nn::{self, ModuleT};
use tch::Tensor;

fn conv3x3(vs: nn::Path, cin: i64, cout: i64, stride: i64) -> nn::Conv2D {
    init::conv2d(vs, cin, cout, 3, nn::ConvConfig { stride, padding: 1, bias: false, ..Default::default() })
}

/// Two 3x3 convolutions with batch norm and a shortcut: `relu(bn(conv(relu(bn(conv(x))))) + shortcut(x))`.
#[derive(Debug)]
struct BasicBlock {
    conv1: nn::Conv2D,
    bn1: nn::BatchNorm,
    conv2: nn::Conv2D,
    bn2: nn::BatchNorm,
    /// A 1x1 strided projection where the block changes channels or resolution.
    projection: Option<(nn::Conv2D, nn::BatchNorm)>,
}

impl BasicBlock {
    fn new(vs: &nn::Path, cin: i64, cout: i64, stride: i64) -> Self {
        let projection = (stride != 1 || cin != cout).then(|| {
            let config = nn::ConvConfig { stride, bias: false, ..Default::default() };
            (init::conv2d(vs / "proj", cin, cout, 1, config), init::batch_norm2d(vs / "proj_bn", cout))
        });
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
    stem: nn::Conv2D,
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
