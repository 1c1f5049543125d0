use tch::nn::{self, Module};
use tch::Tensor;

/// Hidden-layer nonlinearity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    Tanh,
    Relu,
}

impl Activation {
    pub fn apply(self, x: &Tensor) -> Tensor {
        match self {
            Activation::Tanh => x.tanh(),
            Activation::Relu => x.relu(),
        }
    }
}

/// A linear layer with SB3's initialization: orthogonal weights with `gain` and zero bias, or PyTorch's default
/// init when `gain` is `None`.
pub fn orthogonal_linear(path: nn::Path, inputs: i64, outputs: i64, gain: Option<f64>) -> nn::Linear {
    match gain {
        Some(gain) => {
            let config = nn::LinearConfig {
                ws_init: nn::Init::Orthogonal { gain },
                bs_init: Some(nn::Init::Const(0.0)),
                bias: true,
            };
            nn::linear(path, inputs, outputs, config)
        }
        None => crate::init::linear(path, inputs, outputs, true),
    }
}

/// `Linear -> act -> Linear -> act ...` over `hidden` sizes; the output has `hidden.last()` features
/// (or the input itself when `hidden` is empty).
#[derive(Debug)]
pub struct Mlp {
    layers: Vec<nn::Linear>,
    activation: Activation,
    out_dim: i64,
}

impl Mlp {
    /// `gain`: orthogonal init gain for every layer (SB3 uses sqrt(2)); `None` keeps PyTorch's default init.
    pub fn new(path: &nn::Path, in_dim: i64, hidden: &[i64], activation: Activation, gain: Option<f64>) -> Self {
        let mut layers = Vec::new();
        let mut dim = in_dim;
        for (i, &h) in hidden.iter().enumerate() {
            layers.push(orthogonal_linear(path / i, dim, h, gain));
            dim = h;
        }
        Mlp { layers, activation, out_dim: dim }
    }

    pub fn out_dim(&self) -> i64 {
        self.out_dim
    }
}

impl Module for Mlp {
    fn forward(&self, x: &Tensor) -> Tensor {
        let mut h = x.shallow_clone();
        for layer in &self.layers {
            h = self.activation.apply(&layer.forward(&h));
        }
        h
    }
}
