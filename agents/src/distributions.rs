//! Action distributions of the actor-critic policies (SB3's `CategoricalDistribution` and
//! `DiagGaussianDistribution`). Sampling draws its randomness from the caller's generator, so a run is reproducible
//! (and resumable) from the generator's saved state alone.

use rand::Rng;
use rand_distr::StandardNormal;
use tch::{Kind, Tensor};

/// A batch of action distributions.
pub enum ActionDist {
    /// `logits`: (B, n)
    Categorical { logits: Tensor },
    /// `mean`: (B, d); `log_std`: (d,), state-independent.
    DiagGaussian { mean: Tensor, log_std: Tensor },
}

impl ActionDist {
    /// log pi(a | s), summed over action dimensions: (B,). Discrete actions come as floats (B, 1) or (B,).
    pub fn log_prob(&self, actions: &Tensor) -> Tensor {
        match self {
            ActionDist::Categorical { logits } => {
                let index = actions.reshape([-1, 1]).to_kind(Kind::Int64);
                logits.log_softmax(-1, Kind::Float).gather(1, &index, false).squeeze_dim(1)
            }
            ActionDist::DiagGaussian { mean, log_std } => {
                let var = (log_std * 2.0).exp();
                let log_scale = log_std.expand_as(mean);
                let lp =
                    -(actions - mean).square() / (&var * 2.0) - log_scale - (2.0 * std::f64::consts::PI).sqrt().ln();
                lp.sum_dim_intlist(-1, false, Kind::Float)
            }
        }
    }

    /// Entropy per sample: (B,).
    pub fn entropy(&self) -> Tensor {
        match self {
            ActionDist::Categorical { logits } => {
                let log_p = logits.log_softmax(-1, Kind::Float);
                -(log_p.exp() * log_p).sum_dim_intlist(-1, false, Kind::Float)
            }
            ActionDist::DiagGaussian { mean, log_std } => {
                let per_dim = log_std + 0.5 + 0.5 * (2.0 * std::f64::consts::PI).ln();
                per_dim.expand_as(mean).sum_dim_intlist(-1, false, Kind::Float)
            }
        }
    }

    /// The most likely action (argmax, or the mean): (B, 1) for Categorical, (B, d) for Gaussian, as floats.
    pub fn mode(&self) -> Tensor {
        match self {
            ActionDist::Categorical { logits } => logits.argmax(-1, true).to_kind(Kind::Float),
            ActionDist::DiagGaussian { mean, .. } => mean.shallow_clone(),
        }
    }

    /// Draws one action per row with `rng`: inverse-CDF on the probabilities, or mean + std * N(0, 1).
    /// (B, 1) for Categorical, (B, d) for Gaussian, as floats.
    pub fn sample<R: Rng>(&self, rng: &mut R) -> Tensor {
        let (actions, _) = self.sample_with_log_prob(rng);
        let (device, width) = match self {
            ActionDist::Categorical { logits } => (logits.device(), 1),
            ActionDist::DiagGaussian { mean, .. } => (mean.device(), mean.size()[1]),
        };
        Tensor::from_slice(&actions).reshape([-1, width]).to_device(device)
    }

    /// Samples like [`ActionDist::sample`] and returns, on the CPU, the actions `[B * action_len]` and their
    /// log-probabilities `[B]`: what a rollout step needs, with as few tensor operations as possible (for
    /// Categorical, one `log_softmax` and one copy).
    pub fn sample_with_log_prob<R: Rng>(&self, rng: &mut R) -> (Vec<f32>, Vec<f32>) {
        let to_vec = rlx_models::to_vec_f32;
        match self {
            ActionDist::Categorical { logits } => {
                let n = logits.size()[1] as usize;
                to_vec(&logits.log_softmax(-1, Kind::Float))
                    .chunks(n)
                    .map(|row| {
                        let u: f64 = rng.random();
                        let mut acc = 0.0;
                        let pick = row
                            .iter()
                            .position(|&lp| {
                                acc += (lp as f64).exp();
                                u < acc
                            })
                            .unwrap_or(n - 1);
                        (pick as f32, row[pick])
                    })
                    .unzip()
            }
            ActionDist::DiagGaussian { mean, log_std } => {
                let noise: Vec<f32> = (0..mean.numel()).map(|_| rng.sample::<f32, _>(StandardNormal)).collect();
                let noise = Tensor::from_slice(&noise).reshape(mean.size()).to_device(mean.device());
                let actions = mean + log_std.exp() * noise;
                (to_vec(&actions), to_vec(&self.log_prob(&actions)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference values from PyTorch 2.11 (`agents/tests/reference/distributions.py`):
    /// Categorical(logits=[[1., 2., 0.5], [0., 0., 0.]]): log_prob([1, 2]) = [-0.464369, -1.098612],
    /// entropy = [0.905959, 1.098612].
    /// Normal(mean=[[0.5, -1.0]], std=exp([0.2, -0.3])).log_prob([[1.0, 0.0]]).sum(-1) = -2.732727;
    /// entropy().sum(-1) = 2.737877.
    #[test]
    fn log_prob_and_entropy_match_pytorch() {
        let close = |t: &Tensor, want: &[f64]| {
            let got = Vec::<f64>::try_from(t.to_kind(Kind::Double).reshape([-1])).unwrap();
            assert!(got.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-5), "{got:?} vs {want:?}");
        };
        let cat =
            ActionDist::Categorical { logits: Tensor::from_slice(&[1.0f32, 2.0, 0.5, 0.0, 0.0, 0.0]).reshape([2, 3]) };
        close(&cat.log_prob(&Tensor::from_slice(&[1.0f32, 2.0])), &[-0.464369, -1.098612]);
        close(&cat.entropy(), &[0.905959, 1.098612]);
        let gauss = ActionDist::DiagGaussian {
            mean: Tensor::from_slice(&[0.5f32, -1.0]).reshape([1, 2]),
            log_std: Tensor::from_slice(&[0.2f32, -0.3]),
        };
        close(&gauss.log_prob(&Tensor::from_slice(&[1.0f32, 0.0]).reshape([1, 2])), &[-2.732727]);
        close(&gauss.entropy(), &[2.737877]);
    }

    #[test]
    fn categorical_sampling_follows_the_probabilities() {
        use rand::SeedableRng;
        let mut rng = rand_pcg::Pcg64::seed_from_u64(0);
        let logits = Tensor::from_slice(&[0.0f32, (3.0f32).ln()]).reshape([1, 2]).repeat([4000, 1]);
        let dist = ActionDist::Categorical { logits };
        let ones = dist.sample(&mut rng).sum(Kind::Double).double_value(&[]);
        assert!((ones / 4000.0 - 0.75).abs() < 0.03, "{ones}");
    }
}
