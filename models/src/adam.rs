use tch::{nn, Tensor};

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

/// Adam over the trainable variables of a `VarStore`, computing exactly what `torch.optim.Adam` (single-tensor
/// path) computes, with its state in plain tensors so checkpoints can save and restore it. tch's own optimizer
/// hides its state, which would make resumed runs diverge.
pub struct Adam {
    config: AdamConfig,
    /// `(name, parameter, first moment, second moment)`, sorted by name.
    params: Vec<(String, Tensor, Tensor, Tensor)>,
    step: i64,
}

impl Adam {
    pub fn new(vs: &nn::VarStore, config: AdamConfig) -> Self {
        let mut named: Vec<(String, Tensor)> = vs.variables().into_iter().filter(|(_, t)| t.requires_grad()).collect();
        named.sort_by(|a, b| a.0.cmp(&b.0));
        let params = named
            .into_iter()
            .map(|(name, p)| {
                let (m, v) = (p.zeros_like().detach(), p.zeros_like().detach());
                (name, p, m, v)
            })
            .collect();
        Adam { config, params, step: 0 }
    }

    pub fn zero_grad(&mut self) {
        for (_, p, _, _) in &mut self.params {
            let mut g = p.grad();
            if g.defined() {
                let _ = g.detach_().zero_();
            }
        }
    }

    /// The parameters, for gradient clipping.
    pub fn parameters(&self) -> Vec<Tensor> {
        self.params.iter().map(|(_, p, _, _)| p.shallow_clone()).collect()
    }

    /// One update with learning rate `lr`:
    /// `m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2; p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)`.
    pub fn step(&mut self, lr: f64) {
        let AdamConfig { beta1, beta2, eps } = self.config;
        self.step += 1;
        let bias_correction1 = 1.0 - beta1.powi(self.step as i32);
        let bias_correction2_sqrt = (1.0 - beta2.powi(self.step as i32)).sqrt();
        let step_size = lr / bias_correction1;
        tch::no_grad(|| {
            for (_, p, m, v) in &mut self.params {
                let g = p.grad();
                if !g.defined() {
                    continue;
                }
                let _ = m.lerp_(&g, 1.0 - beta1);
                *v *= beta2;
                *v += &g * &g * (1.0 - beta2);
                let denom = (v.sqrt() / bias_correction2_sqrt) + eps;
                *p -= &*m / denom * step_size;
            }
        });
    }

    /// State tensors named `m.<param>` and `v.<param>`, plus the step count, for checkpoints.
    pub fn state(&self) -> (Vec<(String, Tensor)>, i64) {
        let mut tensors = Vec::new();
        for (name, _, m, v) in &self.params {
            tensors.push((format!("m.{name}"), m.shallow_clone()));
            tensors.push((format!("v.{name}"), v.shallow_clone()));
        }
        (tensors, self.step)
    }

    /// Restores the state saved by [`Adam::state`]; every moment must be present with the parameter's shape.
    pub fn load_state(&mut self, tensors: &std::collections::HashMap<String, Tensor>, step: i64) -> Result<(), String> {
        for (name, p, m, v) in &mut self.params {
            for (prefix, dst) in [("m", &mut *m), ("v", &mut *v)] {
                let key = format!("{prefix}.{name}");
                let src = tensors.get(&key).ok_or_else(|| format!("optimizer state `{key}` missing"))?;
                if src.size() != p.size() {
                    return Err(format!("optimizer state `{key}` has shape {:?}, expected {:?}", src.size(), p.size()));
                }
                tch::no_grad(|| dst.copy_(src));
            }
        }
        self.step = step;
        Ok(())
    }
}

/// Scales gradients so their global L2 norm is at most `max_norm` (PyTorch's `clip_grad_norm_`); returns the norm
/// before clipping.
pub fn clip_grad_norm(params: &[Tensor], max_norm: f64) -> f64 {
    tch::no_grad(|| {
        let grads: Vec<Tensor> = params.iter().map(|p| p.grad()).filter(|g| g.defined()).collect();
        if grads.is_empty() {
            return 0.0;
        }
        let norms: Vec<Tensor> = grads.iter().map(|g| g.norm()).collect();
        let total = Tensor::stack(&norms, 0).norm();
        let coef = (max_norm / (&total + 1e-6)).clamp_max(1.0);
        for g in &grads {
            let mut g = g.shallow_clone();
            g *= &coef;
        }
        total.double_value(&[])
    })
}
