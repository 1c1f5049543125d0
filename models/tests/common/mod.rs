//! What the parity tests share with their PyTorch scripts (`reference_supervised.py`, `reference_generative.py`):
//! the rule that fills every trainable parameter from its name, and the fixed grey batch.

use tch::nn;
use tch::{Device, Kind, Tensor};

/// `value[k] = 0.05 sin(0.37 k + 0.013 * sum of the name's bytes)`, as the scripts fill them.
pub fn fill(vs: &nn::VarStore) {
    tch::no_grad(|| {
        for (name, mut p) in vs.variables() {
            if !p.requires_grad() {
                continue; // batch-norm statistics keep their defaults, as in PyTorch
            }
            let salt = 0.013 * name.bytes().map(|b| b as f64).sum::<f64>();
            let k = Tensor::arange(p.numel() as i64, (Kind::Double, Device::Cpu));
            p.copy_(&((k * 0.37 + salt).sin() * 0.05).reshape(p.size()).to_kind(Kind::Float));
        }
    });
}

/// (4, 1, 28, 28) grey levels `(i mod 17) / 17`, i the flat index.
pub fn grey_batch() -> Tensor {
    let i = Tensor::arange(4 * 784, (Kind::Double, Device::Cpu));
    (i.remainder(17) / 17).reshape([4, 1, 28, 28]).to_kind(Kind::Float)
}
