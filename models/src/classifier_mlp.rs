//! A fully connected classifier for flattened images: `Linear -> ReLU -> Dropout` per hidden layer, then a linear
//! layer to the class logits (PyTorch's default initialization).

use crate::init;
use crate::ImageClassifier;
use tch::nn::{self, ModuleT};
use tch::Tensor;

#[derive(Debug)]
pub struct MlpClassifier {
    hidden: Vec<nn::Linear>,
    out: nn::Linear,
    dropout: f64,
}

impl MlpClassifier {
    pub fn new(vs: &nn::Path, inputs: i64, hidden: &[i64], classes: i64, dropout: f64) -> Self {
        let mut layers = Vec::new();
        let mut width = inputs;
        for (i, &h) in hidden.iter().enumerate() {
            layers.push(init::linear(vs / format!("fc{i}"), width, h, true));
            width = h;
        }
        MlpClassifier { hidden: layers, out: init::linear(vs / "out", width, classes, true), dropout }
    }
}

impl MlpClassifier {
    /// The last hidden layer's activations (B, hidden), after its dropout.
    fn last_hidden(&self, x: &Tensor, train: bool) -> Tensor {
        let mut x = x.flatten(1, -1); // (B, inputs)
        for layer in &self.hidden {
            x = x.apply(layer).relu().dropout(self.dropout, train); // (B, hidden)
        }
        x
    }
}

impl ModuleT for MlpClassifier {
    /// `x`: (B, ...) images, flattened -> logits (B, classes).
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        self.last_hidden(x, train).apply(&self.out)
    }
}

impl ImageClassifier for MlpClassifier {
    fn features(&self, x: &Tensor) -> Tensor {
        self.last_hidden(x, false)
    }
}
