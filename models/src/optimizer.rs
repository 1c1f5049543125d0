use tch::{nn, Kind, Tensor};

/// Adam's hyperparameters (PyTorch's defaults, except `eps`, which SB3's PPO sets to 1e-5).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AdamConfig {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig { beta1: 0.9, beta2: 0.999, eps: 1e-8 }
    }
}

/// `torch.optim.RMSprop`'s hyperparameters (PyTorch's defaults). `eps` is added outside the square root, as
/// PyTorch does (DeepMind's Nature RMSProp adds its 0.01 inside: `sqrt(E[g^2] - E[g]^2 + 0.01)`).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RmsPropConfig {
    /// Decay of the squared-gradient average (0.99).
    pub alpha: f64,
    pub eps: f64,
    /// Divide by the gradient's variance instead of its second moment (false).
    pub centered: bool,
    /// Momentum of the update (0.0).
    pub momentum: f64,
}

impl Default for RmsPropConfig {
    fn default() -> Self {
        RmsPropConfig { alpha: 0.99, eps: 1e-8, centered: false, momentum: 0.0 }
    }
}

/// `torch.optim.SGD`'s momentum settings (dampening 0).
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct SgdConfig {
    /// Momentum of the velocity buffer (0.0: plain SGD).
    pub momentum: f64,
    /// Nesterov's variant: step along `g + momentum * buffer` (false).
    pub nesterov: bool,
}

/// Which update rule an [`Optimizer`] applies.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rule {
    Adam(AdamConfig),
    RmsProp(RmsPropConfig),
    Sgd(SgdConfig),
}

/// Adam, RMSprop or SGD with global-norm gradient clipping and L2 weight decay, computing what `clip_grad_norm_` +
/// `torch.optim.Adam` / `RMSprop` / `SGD` compute, over one flat buffer that holds every parameter of a `VarStore`.
///
/// Why not tch's optimizer: its state (moments, step) is hidden, so checkpoints could not resume exactly. Why flat:
/// small RL networks spend their update time in per-tensor call overhead; the variables are re-pointed (`set_data`)
/// to views of one buffer, so clipping and the update are a dozen tensor operations whatever the layer count.
/// It is also the one place every gradient passes, where a data-parallel learner would all-reduce.
pub struct Optimizer {
    rule: Rule,
    /// The trainable variables (views of `flat`), sorted by name.
    params: Vec<(String, Tensor)>,
    /// (P,) every parameter, concatenated.
    flat: Tensor,
    /// (P,) Adam: first and second moments; RMSprop: momentum buffer and squared-gradient average.
    m: Tensor,
    v: Tensor,
    /// (P,) centered RMSprop: the gradient average (empty otherwise).
    g: Tensor,
    step: i64,
    /// L2 penalty added to the gradient after clipping, as `weight_decay` in `torch.optim` (0.0).
    weight_decay: f64,
    /// Decoupled weight decay (AdamW): the rate and a (P,) mask, 1 on the parameters that decay (none by default).
    decoupled_decay: Option<(f64, Tensor)>,
}

/// PPO's and DQN's optimizer by its usual name.
pub type Adam = Optimizer;

impl Optimizer {
    /// Adam over `vs`'s trainable variables.
    pub fn new(vs: &nn::VarStore, config: AdamConfig) -> Self {
        Self::with_rule(vs, Rule::Adam(config))
    }

    /// RMSprop over `vs`'s trainable variables.
    pub fn rmsprop(vs: &nn::VarStore, config: RmsPropConfig) -> Self {
        Self::with_rule(vs, Rule::RmsProp(config))
    }

    pub fn with_rule(vs: &nn::VarStore, rule: Rule) -> Self {
        let mut params: Vec<(String, Tensor)> = vs.variables().into_iter().filter(|(_, t)| t.requires_grad()).collect();
        params.sort_by(|a, b| a.0.cmp(&b.0));
        let flat =
            tch::no_grad(|| Tensor::cat(&params.iter().map(|(_, p)| p.detach().reshape([-1])).collect::<Vec<_>>(), 0));
        let mut offset = 0;
        for (_, p) in &mut params {
            let numel = p.numel() as i64;
            let view = flat.narrow(0, offset, numel).view(p.size().as_slice());
            tch::no_grad(|| p.set_data(&view));
            offset += numel;
        }
        let (m, v) = (flat.zeros_like(), flat.zeros_like());
        let g = match rule {
            Rule::RmsProp(RmsPropConfig { centered: true, .. }) => flat.zeros_like(),
            _ => Tensor::zeros([0], (Kind::Float, flat.device())),
        };
        Optimizer { rule, params, flat, m, v, g, step: 0, weight_decay: 0.0, decoupled_decay: None }
    }

    /// The same optimizer with L2 weight decay `weight_decay` on every parameter (`torch.optim`'s coupled form:
    /// `g += weight_decay * p` before the update).
    pub fn with_weight_decay(mut self, weight_decay: f64) -> Self {
        self.weight_decay = weight_decay;
        self
    }

    /// The same optimizer with decoupled weight decay (Loshchilov & Hutter 2019; `torch.optim.AdamW`'s
    /// `p *= 1 - lr * weight_decay` before the update) on the parameters for which `decays(name, parameter)` holds.
    pub fn with_decoupled_weight_decay(mut self, weight_decay: f64, decays: impl Fn(&str, &Tensor) -> bool) -> Self {
        let mask: Vec<Tensor> = self
            .params
            .iter()
            .map(|(name, p)| {
                Tensor::full([p.numel() as i64], if decays(name, p) { 1.0 } else { 0.0 }, (Kind::Float, p.device()))
            })
            .collect();
        self.decoupled_decay = Some((weight_decay, Tensor::cat(&mask, 0)));
        self
    }

    /// Trainable scalars that decoupled weight decay applies to.
    pub fn num_decayed(&self) -> i64 {
        self.decoupled_decay.as_ref().map_or(0, |(_, mask)| mask.sum(Kind::Float).int64_value(&[]))
    }

    pub fn zero_grad(&mut self) {
        for (_, p) in &mut self.params {
            let mut g = p.grad();
            if g.defined() {
                let _ = g.detach_().zero_();
            }
        }
    }

    /// Number of trainable scalars.
    pub fn num_parameters(&self) -> i64 {
        self.flat.numel() as i64
    }

    /// Backpropagates `loss` to the parameters and takes one [`Adam::step`]. The gradients are returned by the
    /// autograd engine (`torch.autograd.grad`) instead of accumulated into `.grad`, which saves an accumulation and
    /// a zeroing per parameter; `.grad` is left untouched. Returns the gradient norm, or `Err(norm)` without
    /// touching the weights or the optimizer state when the gradient is not finite.
    pub fn backward_step(&mut self, loss: &Tensor, lr: f64, max_grad_norm: Option<f64>) -> Result<f64, f64> {
        let params: Vec<&Tensor> = self.params.iter().map(|(_, p)| p).collect();
        let grads = Tensor::run_backward(&[loss], &params, false, false);
        let g = self.flatten(grads);
        self.apply(g, lr, max_grad_norm)
    }

    /// One step from the gradients accumulated in `.grad` by `loss.backward()` (see [`Adam::zero_grad`]).
    pub fn step(&mut self, lr: f64, max_grad_norm: Option<f64>) -> Result<f64, f64> {
        let g = self.flatten(self.params.iter().map(|(_, p)| p.grad()));
        self.apply(g, lr, max_grad_norm)
    }

    /// (P,) per-parameter gradients (in parameter order) concatenated; zeros where a parameter got none.
    fn flatten(&self, grads: impl IntoIterator<Item = Tensor>) -> Tensor {
        let flat: Vec<Tensor> = grads
            .into_iter()
            .zip(&self.params)
            .map(|(g, (_, p))| {
                if g.defined() {
                    g.reshape([-1])
                } else {
                    Tensor::zeros([p.numel() as i64], (Kind::Float, p.device()))
                }
            })
            .collect();
        Tensor::cat(&flat, 0)
    }

    /// Clips the gradients to global L2 norm `max_grad_norm` (when given, as `clip_grad_norm_`) and applies one
    /// update with learning rate `lr`. Adam:
    /// `m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2; p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)`.
    /// RMSprop: `v = a v + (1 - a) g^2`; centered: `ga = a ga + (1 - a) g`, `d = sqrt(v - ga^2) + eps`, else
    /// `d = sqrt(v) + eps`; `p -= lr g / d`, or with momentum `m = mu m + g / d; p -= lr m`. SGD: `p -= lr g`, or
    /// with momentum `m = mu m + g; p -= lr m` (Nesterov: `p -= lr (g + mu m)`). Weight decay adds `wd p` to `g`
    /// after clipping; decoupled weight decay scales the decaying parameters by `1 - lr wd` before the update.
    /// `g`: (P,) the flat gradient. Returns the gradient norm before clipping; a non-finite gradient is
    /// `Err(norm)` and changes nothing.
    fn apply(&mut self, mut g: Tensor, lr: f64, max_grad_norm: Option<f64>) -> Result<f64, f64> {
        tch::no_grad(|| {
            let total = g.norm();
            let norm = total.double_value(&[]);
            if !norm.is_finite() {
                return Err(norm);
            }
            self.step += 1;
            if let Some(max_norm) = max_grad_norm {
                g *= (max_norm / (&total + 1e-6)).clamp_max(1.0);
            }
            if self.weight_decay != 0.0 {
                g += &self.flat * self.weight_decay;
            }
            if let Some((rate, mask)) = &self.decoupled_decay {
                let decay = &self.flat * mask * (lr * rate);
                self.flat -= decay;
            }
            match self.rule {
                Rule::Adam(AdamConfig { beta1, beta2, eps }) => {
                    let bias_correction1 = 1.0 - beta1.powi(self.step as i32);
                    let bias_correction2_sqrt = (1.0 - beta2.powi(self.step as i32)).sqrt();
                    let _ = self.m.lerp_(&g, 1.0 - beta1);
                    self.v *= beta2;
                    self.v += g.square() * (1.0 - beta2);
                    let denom = self.v.sqrt() / bias_correction2_sqrt + eps;
                    self.flat -= &self.m / denom * (lr / bias_correction1);
                }
                Rule::RmsProp(RmsPropConfig { alpha, eps, centered, momentum }) => {
                    self.v *= alpha;
                    self.v += g.square() * (1.0 - alpha);
                    let denom = if centered {
                        let _ = self.g.lerp_(&g, 1.0 - alpha);
                        (&self.v - self.g.square()).sqrt() + eps
                    } else {
                        self.v.sqrt() + eps
                    };
                    if momentum > 0.0 {
                        self.m *= momentum;
                        self.m += &g / denom;
                        self.flat -= &self.m * lr;
                    } else {
                        self.flat -= g / denom * lr;
                    }
                }
                Rule::Sgd(SgdConfig { momentum, nesterov }) => {
                    if momentum > 0.0 {
                        self.m *= momentum;
                        self.m += &g;
                        if nesterov {
                            self.flat -= (g + &self.m * momentum) * lr;
                        } else {
                            self.flat -= &self.m * lr;
                        }
                    } else {
                        self.flat -= g * lr;
                    }
                }
            }
            Ok(norm)
        })
    }

    /// Optimizer state for checkpoints: `m`, `v` (and `g` for centered RMSprop), flat, and the step count.
    pub fn state(&self) -> (Vec<(String, Tensor)>, i64) {
        let mut state = vec![("m".into(), self.m.shallow_clone()), ("v".into(), self.v.shallow_clone())];
        if self.g.numel() > 0 {
            state.push(("g".into(), self.g.shallow_clone()));
        }
        (state, self.step)
    }

    /// Restores what [`Optimizer::state`] saved, for the same network and rule.
    pub fn load_state(&mut self, tensors: &std::collections::HashMap<String, Tensor>, step: i64) -> Result<(), String> {
        let centered = self.g.numel() > 0;
        let mut slots = vec![("m", &mut self.m), ("v", &mut self.v)];
        if centered {
            slots.push(("g", &mut self.g));
        }
        for (key, dst) in slots {
            let src = tensors.get(key).ok_or_else(|| format!("optimizer state `{key}` missing"))?;
            if src.size() != dst.size() {
                return Err(format!("optimizer state `{key}` has shape {:?}, expected {:?}", src.size(), dst.size()));
            }
            tch::no_grad(|| dst.copy_(src));
        }
        self.step = step;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two updates of a tiny linear model, against `torch.nn.utils.clip_grad_norm_` + `torch.optim.Adam` (PyTorch
    /// 2.11.0, script `models/tests/reference_adam.py`: w = [0.6999967, -0.8000025], norms 25, 18.0001).
    #[test]
    fn clipping_and_updates_match_pytorch() {
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let w = vs.root().var("w", &[2], nn::Init::Const(0.0));
        tch::no_grad(|| w.shallow_clone().copy_(&Tensor::from_slice(&[0.5f32, -1.0])));
        let mut adam = Adam::new(&vs, AdamConfig { eps: 1e-5, ..Default::default() });
        let x = Tensor::from_slice(&[3.0f32, 4.0]);
        let mut norms = vec![];
        for step in 0..2 {
            let loss = (&w * &x).sum(Kind::Float).square(); // grad = 2 (w.x) x

            // Both ways of computing gradients give the same update.
            if step == 0 {
                adam.zero_grad();
                loss.backward();
                norms.push(adam.step(0.1, Some(1.0)).unwrap());
            } else {
                norms.push(adam.backward_step(&loss, 0.1, Some(1.0)).unwrap());
            }
        }
        let got = Vec::<f32>::try_from(&w.detach()).unwrap();
        let want = [0.6999967f32, -0.8000025];
        assert!(got.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-5), "{got:?} vs {want:?}");
        assert!((norms[0] - 25.0).abs() < 1e-4 && (norms[1] - 18.0001).abs() < 1e-3, "{norms:?}");
    }
    /// Three steps of SGD (momentum, Nesterov) and of Adam with weight decay against `torch.optim`
    /// (`models/tests/reference_sgd.py`, PyTorch 2.11.0).
    #[test]
    fn sgd_and_weight_decay_match_pytorch() {
        let cases: [(Rule, f64, f64, [[f32; 2]; 3]); 3] = [
            (
                Rule::Sgd(SgdConfig { momentum: 0.9, nesterov: false }),
                0.01,
                0.0,
                [[0.65, -0.8], [0.86, -0.52], [1.0189999, -0.308]],
            ),
            (
                Rule::Sgd(SgdConfig { momentum: 0.9, nesterov: true }),
                0.01,
                0.1,
                [[0.78405, -0.6181], [0.9173638, -0.4358376], [0.9148189, -0.4335163]],
            ),
            (
                Rule::Adam(AdamConfig::default()),
                0.1,
                0.1,
                [[0.6, -0.9], [0.6978403, -0.8021247], [0.7906362, -0.7091944]],
            ),
        ];
        for (rule, lr, weight_decay, want) in cases {
            let vs = nn::VarStore::new(tch::Device::Cpu);
            let w = vs.root().var("w", &[2], nn::Init::Const(0.0));
            tch::no_grad(|| w.shallow_clone().copy_(&Tensor::from_slice(&[0.5f32, -1.0])));
            let mut opt = Optimizer::with_rule(&vs, rule).with_weight_decay(weight_decay);
            let x = Tensor::from_slice(&[3.0f32, 4.0]);
            for want in want {
                let loss = (&w * &x).sum(Kind::Float).square();
                opt.backward_step(&loss, lr, None).unwrap();
                let got = Vec::<f32>::try_from(&w.detach()).unwrap();
                assert!(got.iter().zip(want).all(|(a, b)| (a - b).abs() < 2e-6), "{rule:?}: {got:?} vs {want:?}");
            }
        }
    }

    /// Three clipped AdamW steps with nanoGPT's grouping (the 2-D weight decays, the bias does not) against
    /// `torch.optim.AdamW` over two parameter groups (`models/tests/reference_adamw.py`, PyTorch 2.11.0).
    #[test]
    fn decoupled_weight_decay_matches_adamw() {
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let w = vs.root().var("w", &[2, 2], nn::Init::Const(0.0));
        let b = vs.root().var("b", &[1], nn::Init::Const(0.0));
        tch::no_grad(|| {
            w.shallow_clone().copy_(&Tensor::from_slice(&[0.5f32, -1.0, 0.25, 0.75]).view([2, 2]));
            b.shallow_clone().copy_(&Tensor::from_slice(&[0.3f32]));
        });
        let config = AdamConfig { beta1: 0.9, beta2: 0.95, eps: 1e-8 };
        let mut adamw = Adam::new(&vs, config).with_decoupled_weight_decay(0.5, |_, p| p.dim() >= 2);
        assert_eq!(adamw.num_decayed(), 4);
        let x = Tensor::from_slice(&[3.0f32, 4.0]);
        let want: [([f32; 4], f32); 3] = [
            ([0.375, -1.05, 0.1375, 0.6125], 0.2),
            ([0.3027382, -1.0510118, 0.0771132, 0.5283632], 0.1464882),
            ([0.3033218, -0.9827406, 0.088978, 0.5176656], 0.1622087),
        ];
        for (want_w, want_b) in want {
            let loss = (w.matmul(&x).sum(Kind::Float) + &b).square().sum(Kind::Float);
            adamw.backward_step(&loss, 0.1, Some(1.0)).unwrap();
            let got_w = Vec::<f32>::try_from(&w.detach().reshape([-1])).unwrap();
            let got_b = Vec::<f32>::try_from(&b.detach()).unwrap()[0];
            assert!(got_w.iter().zip(want_w).all(|(a, b)| (a - b).abs() < 2e-6), "{got_w:?} vs {want_w:?}");
            assert!((got_b - want_b).abs() < 2e-6, "{got_b} vs {want_b}");
        }
    }

    #[test]
    fn a_non_finite_gradient_changes_nothing() {
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let w = vs.root().var("w", &[2], nn::Init::Const(1.0));
        let mut adam = Adam::new(&vs, AdamConfig::default());
        let loss = (&w * f64::NAN).sum(Kind::Float);
        assert!(adam.backward_step(&loss, 0.1, Some(1.0)).unwrap_err().is_nan());
        assert_eq!(Vec::<f32>::try_from(&w.detach()).unwrap(), [1.0, 1.0]);
        assert_eq!(adam.state().1, 0, "no step counted");
        assert!(adam.backward_step(&w.sum(Kind::Float), 0.1, None).is_ok());
    }

    /// Two clipped updates with `torch.optim.RMSprop(lr=0.1, alpha=0.95, eps=0.01)`, centered with momentum 0.5 and
    /// plain (script `models/tests/reference_rmsprop.py`, PyTorch 2.11.0).
    #[test]
    fn rmsprop_matches_pytorch() {
        let cases = [
            (true, 0.5, [0.8353168f32, -0.6570241], [25.0, 5.144813]),
            (false, 0.0, [0.6121639, -0.8843921], [25.0, 4.427257]),
        ];
        for (centered, momentum, want, want_norms) in cases {
            let vs = nn::VarStore::new(tch::Device::Cpu);
            let w = vs.root().var("w", &[2], nn::Init::Const(0.0));
            tch::no_grad(|| w.shallow_clone().copy_(&Tensor::from_slice(&[0.5f32, -1.0])));
            let config = RmsPropConfig { alpha: 0.95, eps: 0.01, centered, momentum };
            let mut rmsprop = Optimizer::rmsprop(&vs, config);
            let x = Tensor::from_slice(&[3.0f32, 4.0]);
            let norms: Vec<f64> = (0..2)
                .map(|_| rmsprop.backward_step(&(&w * &x).sum(Kind::Float).square(), 0.1, Some(1.0)).unwrap())
                .collect();
            let got = Vec::<f32>::try_from(&w.detach()).unwrap();
            assert!(got.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-5), "{centered}: {got:?} vs {want:?}");
            assert!(norms.iter().zip(want_norms).all(|(a, b)| (a - b).abs() < 1e-3), "{norms:?}");
            assert_eq!(rmsprop.state().0.len(), if centered { 3 } else { 2 });
        }
    }
}
