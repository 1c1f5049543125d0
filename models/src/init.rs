//! PyTorch's default initializations, which tch's layer defaults are not. Every rlx network that says it is a
//! PyTorch (or SB3) network builds its layers here, so that it starts where the PyTorch one starts:
//!
//! | layer | PyTorch (`reset_parameters`) | tch 0.24's default |
//! |---|---|---|
//! | `Linear`, `Conv2d`, `ConvTranspose2d` weight | U(+-1/sqrt(fan_in)) (kaiming_uniform_, a = sqrt(5)) | U(+-sqrt(6/fan_in)), 2.45x wider |
//! | their bias | U(+-1/sqrt(fan_in)) | linear: the same; convolutions: 0 |
//! | `GRU`, `LSTM` weights and biases | U(+-1/sqrt(hidden)) | weights as above with fan_in = inputs; biases 0 |
//! | `BatchNorm2d` scale | 1 | U(0, 1) |
//!
//! `fan_in` is PyTorch's: the weight's second dimension times its kernel area, so a transposed convolution's is
//! `out_channels / groups * k * k` (its weight is (in, out / groups, k, k)). Embeddings (N(0, 1)), group and layer
//! norms (1 and 0) already agree and need nothing here.

use tch::nn;

/// U(-bound, bound) with PyTorch's `bound = 1 / sqrt(fan_in)`.
fn uniform(fan_in: i64) -> nn::Init {
    let bound = 1.0 / (fan_in.max(1) as f64).sqrt();
    nn::Init::Uniform { lo: -bound, up: bound }
}

/// `torch.nn.Linear(inputs, outputs, bias)`.
pub fn linear(path: nn::Path, inputs: i64, outputs: i64, bias: bool) -> nn::Linear {
    let config = nn::LinearConfig { ws_init: uniform(inputs), bs_init: Some(uniform(inputs)), bias };
    nn::linear(path, inputs, outputs, config)
}

/// `torch.nn.Conv2d(inputs, outputs, kernel, ...)` with `config`'s stride, padding, groups and bias (its inits are
/// replaced).
pub fn conv2d(path: nn::Path, inputs: i64, outputs: i64, kernel: i64, config: nn::ConvConfig) -> nn::Conv2D {
    let fan_in = inputs / config.groups * kernel * kernel;
    let config = nn::ConvConfig { ws_init: uniform(fan_in), bs_init: uniform(fan_in), ..config };
    nn::conv2d(path, inputs, outputs, kernel, config)
}

/// `torch.nn.ConvTranspose2d(inputs, outputs, kernel, ...)` with `config`'s stride, padding, groups and bias.
pub fn conv_transpose2d(
    path: nn::Path,
    inputs: i64,
    outputs: i64,
    kernel: i64,
    config: nn::ConvTransposeConfig,
) -> nn::ConvTranspose2D {
    let fan_in = outputs / config.groups * kernel * kernel;
    let config = nn::ConvTransposeConfig { ws_init: uniform(fan_in), bs_init: uniform(fan_in), ..config };
    nn::conv_transpose2d(path, inputs, outputs, kernel, config)
}

/// Every weight and bias of a PyTorch RNN (`GRU`, `LSTM`): U(+-1/sqrt(hidden)). The layers are in [`crate::rnn`].
pub fn rnn_uniform(hidden: i64) -> nn::Init {
    uniform(hidden)
}

/// `torch.nn.BatchNorm2d(channels)`: scale 1, shift 0.
pub fn batch_norm2d(path: nn::Path, channels: i64) -> nn::BatchNorm {
    let config =
        nn::BatchNormConfig { ws_init: nn::Init::Const(1.0), bs_init: nn::Init::Const(0.0), ..Default::default() };
    nn::batch_norm2d(path, channels, config)
}

/// What `check_pytorch_init` found wrong, one line per tensor; empty when every variable starts as PyTorch's would.
/// `rnn_hidden` is the hidden width of the RNNs among the variables (their tensors are named `weight_ih_l*`,
/// `weight_hh_l*`, `bias_ih_l*`, `bias_hh_l*`), if any.
#[cfg(test)]
pub(crate) fn pytorch_init_mismatches(vs: &nn::VarStore, rnn_hidden: Option<i64>) -> Vec<String> {
    use std::collections::HashMap;
    use tch::Kind;
    let variables: HashMap<String, tch::Tensor> = vs.variables();
    let mut wrong = Vec::new();
    for (name, t) in &variables {
        let (prefix, leaf) = name.rsplit_once('.').unwrap_or(("", name));
        let size = t.size();
        let is_rnn = ["weight_ih", "weight_hh", "bias_ih", "bias_hh"].iter().any(|p| leaf.starts_with(p));
        let is_norm = prefix.ends_with("bn") || prefix.contains("bn") || prefix.contains("norm");
        // (bound of U(-b, b), or None for the constant inits of norms)
        if prefix.contains("embedding") {
            continue; // N(0, 1) in both
        }
        let bound = if is_rnn {
            Some(1.0 / (rnn_hidden.expect("RNN tensors need rnn_hidden") as f64).sqrt())
        } else if is_norm {
            None
        } else if leaf == "weight" && size.len() >= 2 {
            Some(1.0 / ((size[1] * size[2..].iter().product::<i64>()) as f64).sqrt())
        } else if leaf == "bias" {
            let weight = &variables[&format!("{prefix}.weight")].size();
            Some(1.0 / ((weight[1] * weight[2..].iter().product::<i64>()) as f64).sqrt())
        } else {
            continue; // embeddings, and variables a model initializes its own way
        };
        let values: Vec<f64> = Vec::try_from(t.flatten(0, -1).to_kind(Kind::Double)).unwrap();
        let max = values.iter().fold(0f64, |m, v| m.max(v.abs()));
        match bound {
            Some(b) => {
                // U(-b, b): nothing beyond b, and (for tensors big enough to tell) a std of b / sqrt(3).
                let n = values.len() as f64;
                let std = (values.iter().map(|v| v * v).sum::<f64>() / n).sqrt();
                let expected = b / 3f64.sqrt();
                if max > b * (1.0 + 1e-6) || (n >= 500.0 && (std / expected - 1.0).abs() > 0.1) {
                    wrong.push(format!("{name} {size:?}: max |w| {max:.4}, std {std:.4}; want U(+-{b:.4})"));
                }
            }
            None => {
                let want = if leaf == "weight" { 1.0 } else { 0.0 };
                if values.iter().any(|&v| v != want) && !["running_mean", "running_var"].contains(&leaf) {
                    wrong.push(format!("{name}: want all {want}"));
                }
            }
        }
    }
    wrong.sort();
    wrong
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    #[test]
    fn layers_start_as_pytorch_layers_do() {
        tch::manual_seed(0);
        let vs = nn::VarStore::new(Device::Cpu);
        let root = vs.root();
        let _ = linear(&root / "fc", 784, 400, true);
        let _ = conv2d(&root / "conv", 6, 16, 5, nn::ConvConfig { stride: 2, ..Default::default() });
        let _ = conv_transpose2d(&root / "up", 64, 32, 4, Default::default());
        let _ = batch_norm2d(&root / "bn", 16);
        assert!(pytorch_init_mismatches(&vs, None).is_empty(), "{:?}", pytorch_init_mismatches(&vs, None));
        // Spot values of PyTorch's bounds: nn.Linear(784, 400) 1/28; nn.Conv2d(6, 16, 5) 1/sqrt(150);
        // nn.ConvTranspose2d(64, 32, 4): fan_in 32 * 16 = 512.
        let max = |name: &str| f64::try_from(vs.variables()[name].abs().max()).unwrap();
        assert!(max("fc.weight") <= 1.0 / 28.0 && max("fc.weight") > 0.99 / 28.0);
        assert!(max("conv.weight") <= 1.0 / 150f64.sqrt() && max("conv.bias") > 0.0);
        assert!(max("up.weight") <= 1.0 / 512f64.sqrt() && max("up.weight") > 0.95 / 512f64.sqrt());

        let vs = nn::VarStore::new(Device::Cpu);
        let _ = crate::rnn::Gru::new(vs.root() / "gru", 32, 128);
        assert!(pytorch_init_mismatches(&vs, Some(128)).is_empty(), "{:?}", pytorch_init_mismatches(&vs, Some(128)));
    }

    /// Every network that mirrors a PyTorch one (the benchmarks' peers, SB3's DQN) starts as PyTorch's would.
    #[test]
    fn networks_start_as_their_pytorch_peers_do() {
        use crate::*;
        let check = |name: &str, rnn_hidden: Option<i64>, build: &dyn Fn(&nn::Path)| {
            tch::manual_seed(1);
            let vs = nn::VarStore::new(Device::Cpu);
            build(&vs.root());
            let wrong = pytorch_init_mismatches(&vs, rnn_hidden);
            assert!(wrong.is_empty(), "{name}: {wrong:#?}");
        };
        check("lenet", None, &|p| drop(LeNet5::new(p, 10, 0.0)));
        check("mlp classifier", None, &|p| drop(MlpClassifier::new(p, 784, &[512, 256], 10, 0.0)));
        check("resnet", None, &|p| drop(ResNet::new(p, 1, 10, 3)));
        for arch in [VaeArch::Mlp, VaeArch::Conv] {
            let config =
                VaeConfig { arch, latent: 20, hidden: 400, likelihood: Likelihood::Bernoulli, gaussian_sigma: 0.1 };
            check("vae", None, &|p| drop(Vae::new(p, config.clone())));
        }
        check("unet", None, &|p| drop(UNet::new(p, UNetConfig { channels: 32, dropout: 0.1 })));
        check("seq2seq", Some(128), &|p| {
            let config = Seq2SeqConfig {
                source_vocab: 40,
                target_vocab: 14,
                embed: 32,
                hidden: 128,
                attention: Attention::Bahdanau,
                dropout: 0.1,
            };
            drop(Seq2Seq::new(p, config))
        });
        let lstm = CharLstmConfig { vocab: 65, embed: 64, hidden: 256, layers: 2, dropout: 0.0, tied: false };
        check("char lstm", Some(256), &|p| drop(CharLstm::new(p, lstm.clone())));
        // SB3's DQN: NatureCNN and its heads with PyTorch's defaults (no orthogonal init).
        check("nature cnn", None, &|p| drop(NatureCnn::new(p, 4, None)));
        check("mlp", None, &|p| drop(Mlp::new(p, 4, &[64, 64], Activation::Relu, None)));
    }

    #[test]
    fn tch_defaults_are_not_pytorch_defaults() {
        // Why this module exists: tch's nn::linear draws weights 2.45x wider than torch.nn.Linear.
        let vs = nn::VarStore::new(Device::Cpu);
        let _ = nn::linear(vs.root() / "fc", 784, 400, Default::default());
        assert_eq!(pytorch_init_mismatches(&vs, None).len(), 1);
    }
}
