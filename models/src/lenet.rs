//! LeNet-5 (LeCun et al. 1998) as it is usually trained today: ReLU instead of scaled tanh, max-pooling instead
//! of trainable subsampling, a full C3 connection table, and dropout before the last two layers.

use crate::init;
use crate::ImageClassifier;
use tch::nn::{self, ModuleT};
use tch::Tensor;

#[derive(Debug)]
pub struct LeNet5 {
    conv1: nn::Conv2D,
    conv2: nn::Conv2D,
    fc1: nn::Linear,
    fc2: nn::Linear,
    fc3: nn::Linear,
    /// Dropout probability before fc2 and fc3 in training mode.
    dropout: f64,
}

impl LeNet5 {
    /// For `(B, 1, 28, 28)` images (padded by 2 to the original 32x32 input) and `classes` outputs.
    pub fn new(vs: &nn::Path, classes: i64, dropout: f64) -> Self {
        let pad2 = nn::ConvConfig { padding: 2, ..Default::default() };
        LeNet5 {
            conv1: init::conv2d(vs / "conv1", 1, 6, 5, pad2),
            conv2: init::conv2d(vs / "conv2", 6, 16, 5, Default::default()),
            fc1: init::linear(vs / "fc1", 16 * 5 * 5, 120, true),
            fc2: init::linear(vs / "fc2", 120, 84, true),
            fc3: init::linear(vs / "fc3", 84, classes, true),
            dropout,
        }
    }
}

impl LeNet5 {
    /// The activations before the last layer (B, 84).
    fn penultimate(&self, x: &Tensor, train: bool) -> Tensor {
        let x = x.apply(&self.conv1).relu().max_pool2d_default(2); // (B, 6, 14, 14)
        let x = x.apply(&self.conv2).relu().max_pool2d_default(2); // (B, 16, 5, 5)
        let x = x.flatten(1, -1).apply(&self.fc1).relu(); // (B, 120)
        x.dropout(self.dropout, train).apply(&self.fc2).relu() // (B, 84)
    }
}

impl ModuleT for LeNet5 {
    /// `x`: (B, 1, 28, 28) in [0, 1] -> logits (B, classes).
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        self.penultimate(x, train).dropout(self.dropout, train).apply(&self.fc3)
        // (B, classes)
    }
}

impl ImageClassifier for LeNet5 {
    fn features(&self, x: &Tensor) -> Tensor {
        self.penultimate(x, false)
    }
}
