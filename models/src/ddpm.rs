//! Denoising diffusion (Ho et al. 2020): images are destroyed by T steps of Gaussian noise,
//! `q(x_t | x_{t-1}) = N(sqrt(1 - beta_t) x_{t-1}, beta_t I)`, whose marginal has the closed form
//! `x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps` with `abar_t = prod_{s <= t} (1 - beta_s)`; a network learns to
//! predict `eps` from `(x_t, t)` (the "simple" loss, a plain MSE), and images are made by running the chain
//! backwards from pure noise: ancestral sampling through all T steps (DDPM), or DDIM's deterministic (eta = 0)
//! jumps over a subsequence of the steps (Song et al. 2021). Beta schedules: linear from 1e-4 to 0.02 (Ho et al.)
//! or cosine (Nichol & Dhariwal 2021). Steps are numbered 0..T here (the papers' 1..=T).

use tch::{Device, Kind, Tensor};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BetaSchedule {
    Linear,
    Cosine,
}

/// The noise schedule and what is derived from it.
#[derive(Debug)]
pub struct Diffusion {
    /// beta_t, t in 0..T.
    pub betas: Vec<f64>,
    /// abar_t = prod_{s <= t} (1 - beta_s).
    pub alpha_bars: Vec<f64>,
    /// sqrt(abar_t) and sqrt(1 - abar_t) as (T,) f32 tensors on the model's device, for per-example steps.
    sqrt_alpha_bar: Tensor,
    sqrt_one_minus_alpha_bar: Tensor,
}

impl Diffusion {
    pub fn new(schedule: BetaSchedule, steps: usize, device: Device) -> Self {
        let betas: Vec<f64> = match schedule {
            // Ho et al.'s 1e-4 .. 0.02 over T = 1000, rescaled for other T so the total noise stays alike.
            BetaSchedule::Linear => {
                let scale = 1000.0 / steps as f64;
                let (first, last) = (scale * 1e-4, scale * 0.02);
                (0..steps).map(|t| first + (last - first) * t as f64 / (steps - 1).max(1) as f64).collect()
            }
            // abar(t) = f(t) / f(0), f(t) = cos²((t / T + s) / (1 + s) pi / 2), betas clipped at 0.999.
            BetaSchedule::Cosine => {
                let s = 0.008;
                let f = |t: f64| ((t / steps as f64 + s) / (1.0 + s) * std::f64::consts::FRAC_PI_2).cos().powi(2);
                (0..steps).map(|t| (1.0 - f(t as f64 + 1.0) / f(t as f64)).min(0.999)).collect()
            }
        };
        let mut alpha_bars = Vec::with_capacity(steps);
        let mut product = 1.0;
        for beta in &betas {
            product *= 1.0 - beta;
            alpha_bars.push(product);
        }
        let column = |values: Vec<f64>| Tensor::from_slice(&values).to_kind(Kind::Float).to_device(device);
        Diffusion {
            sqrt_alpha_bar: column(alpha_bars.iter().map(|a| a.sqrt()).collect()),
            sqrt_one_minus_alpha_bar: column(alpha_bars.iter().map(|a| (1.0 - a).sqrt()).collect()),
            betas,
            alpha_bars,
        }
    }

    /// T, the number of diffusion steps.
    pub fn steps(&self) -> usize {
        self.betas.len()
    }

    /// `x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps` for clean images `x0` (B, C, H, W), steps `t` (B,) and
    /// noise `eps` like `x0`.
    pub fn noised(&self, x0: &Tensor, t: &Tensor, eps: &Tensor) -> Tensor {
        let per_image = |table: &Tensor| table.index_select(0, t).view([-1, 1, 1, 1]); // (B, 1, 1, 1)
        per_image(&self.sqrt_alpha_bar) * x0 + per_image(&self.sqrt_one_minus_alpha_bar) * eps
    }

    /// The simple loss of Ho et al.: `|eps - eps_model(x_t, t)|²` averaged, with t uniform over the steps and
    /// eps standard normal. `x0`: (B, 1, H, W) in [-1, 1]; `model(x_t, t)` predicts the noise.
    pub fn loss(&self, x0: &Tensor, model: impl Fn(&Tensor, &Tensor) -> Tensor) -> Tensor {
        let batch = x0.size()[0];
        let t = Tensor::randint(self.steps() as i64, [batch], (Kind::Int64, x0.device())); // (B,)
        let eps = x0.randn_like();
        let predicted = model(&self.noised(x0, &t, &eps), &t);
        (predicted - eps).square().mean(Kind::Float)
    }

    /// `x0` recovered from `x_t` and predicted noise at step `t`, clipped to the data range [-1, 1], and the noise
    /// that is consistent with the clipped `x0`.
    fn denoised(&self, x: &Tensor, eps: &Tensor, t: usize) -> (Tensor, Tensor) {
        let alpha_bar = self.alpha_bars[t];
        let x0 = ((x - eps * (1.0 - alpha_bar).sqrt()) / alpha_bar.sqrt()).clamp(-1.0, 1.0);
        let eps = (x - &x0 * alpha_bar.sqrt()) / (1.0 - alpha_bar).sqrt();
        (x0, eps)
    }

    /// DDPM's ancestral sampling through all T steps: `n` images of `shape` (C, H, W) from noise, in [-1, 1].
    /// Each step draws `x_{t-1}` from the true posterior `q(x_{t-1} | x_t, x0)` at the clipped predicted `x0`,
    /// with the posterior variance `beta~_t = beta_t (1 - abar_{t-1}) / (1 - abar_t)`.
    pub fn sample_ancestral(
        &self,
        n: i64,
        shape: [i64; 3],
        device: Device,
        model: impl Fn(&Tensor, &Tensor) -> Tensor,
    ) -> Tensor {
        tch::no_grad(|| {
            let mut x = Tensor::randn([n, shape[0], shape[1], shape[2]], (Kind::Float, device));
            for t in (0..self.steps()).rev() {
                let steps = Tensor::full([n], t as i64, (Kind::Int64, device));
                let (x0, _) = self.denoised(&x, &model(&x, &steps), t);
                let (beta, alpha_bar) = (self.betas[t], self.alpha_bars[t]);
                let previous = if t > 0 { self.alpha_bars[t - 1] } else { 1.0 };
                let x0_coefficient = beta * previous.sqrt() / (1.0 - alpha_bar);
                let x_coefficient = (1.0 - previous) * (1.0 - beta).sqrt() / (1.0 - alpha_bar);
                let mean = x0 * x0_coefficient + &x * x_coefficient;
                x = if t > 0 {
                    let variance = beta * (1.0 - previous) / (1.0 - alpha_bar);
                    mean + x.randn_like() * variance.sqrt()
                } else {
                    mean
                };
            }
            x
        })
    }

    /// DDIM sampling over `jumps` evenly spaced steps of the T (eta = 0: deterministic given the starting noise;
    /// eta = 1: as much fresh noise as DDPM), `n` images of `shape` from noise, in [-1, 1].
    pub fn sample_ddim(
        &self,
        n: i64,
        shape: [i64; 3],
        jumps: usize,
        eta: f64,
        device: Device,
        model: impl Fn(&Tensor, &Tensor) -> Tensor,
    ) -> Tensor {
        let total = self.steps();
        let jumps = jumps.clamp(1, total);
        // tau_0 < ... < tau_{S-1} = T - 1, evenly spaced.
        let schedule: Vec<usize> = (0..jumps).map(|i| (i * (total - 1)) / (jumps - 1).max(1)).collect();
        tch::no_grad(|| {
            let mut x = Tensor::randn([n, shape[0], shape[1], shape[2]], (Kind::Float, device));
            for (i, &t) in schedule.iter().enumerate().rev() {
                let steps = Tensor::full([n], t as i64, (Kind::Int64, device));
                let (x0, eps) = self.denoised(&x, &model(&x, &steps), t);
                let alpha_bar = self.alpha_bars[t];
                let previous = if i > 0 { self.alpha_bars[schedule[i - 1]] } else { 1.0 };
                let sigma = eta * ((1.0 - previous) / (1.0 - alpha_bar) * (1.0 - alpha_bar / previous)).max(0.0).sqrt();
                let direction = (1.0 - previous - sigma * sigma).max(0.0).sqrt();
                x = x0 * previous.sqrt() + eps * direction;
                if sigma > 0.0 {
                    x += x.randn_like() * sigma;
                }
            }
            x
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_match_their_definitions() {
        let linear = Diffusion::new(BetaSchedule::Linear, 1000, Device::Cpu);
        assert!((linear.betas[0] - 1e-4).abs() < 1e-12 && (linear.betas[999] - 0.02).abs() < 1e-12);
        // Ho et al.'s abar_T for the linear schedule: about 4.0e-5.
        assert!((linear.alpha_bars[999] - 4.04e-5).abs() < 0.1e-5, "{}", linear.alpha_bars[999]);
        let cosine = Diffusion::new(BetaSchedule::Cosine, 1000, Device::Cpu);
        // abar_t = f(t + 1) / f(0) exactly where no beta was clipped.
        let f = |t: f64| ((t / 1000.0 + 0.008) / 1.008 * std::f64::consts::FRAC_PI_2).cos().powi(2);
        for t in [0usize, 100, 500, 900] {
            assert!((cosine.alpha_bars[t] - f(t as f64 + 1.0) / f(0.0)).abs() < 1e-9, "t = {t}");
        }
        assert!(cosine.betas.iter().all(|&b| b > 0.0 && b <= 0.999));
    }

    #[test]
    fn forward_noising_marginals_match_the_closed_form() {
        // Run the chain one step at a time, x_t = sqrt(1 - beta_t) x_{t-1} + sqrt(beta_t) eps, for 40,000 copies
        // of three pixel values, and compare the mean and variance at several t with sqrt(abar_t) x0 and
        // 1 - abar_t; then the same for `noised`, which jumps there at once.
        tch::manual_seed(0);
        let diffusion = Diffusion::new(BetaSchedule::Linear, 200, Device::Cpu);
        let x0 = Tensor::from_slice(&[-1.0f32, 0.25, 0.9]).view([1, 3, 1, 1]).expand([40_000, 3, 1, 1], false);
        let mut x = x0.copy();
        for t in 0..200 {
            let beta = diffusion.betas[t];
            x = &x * (1.0 - beta).sqrt() + x.randn_like() * beta.sqrt();
            if ![0, 20, 99, 199].contains(&t) {
                continue;
            }
            let steps = Tensor::full([40_000], t as i64, (Kind::Int64, Device::Cpu));
            let jumped = diffusion.noised(&x0, &steps, &x0.randn_like());
            let alpha_bar = diffusion.alpha_bars[t];
            for (sample, what) in [(&x, "chain"), (&jumped, "closed form")] {
                let mean: Vec<f64> = Vec::try_from(sample.mean_dim(0, false, Kind::Double).view([-1])).unwrap();
                let var: Vec<f64> =
                    Vec::try_from(sample.var_dim(0, true, false).to_kind(Kind::Double).view([-1])).unwrap();
                for (k, &start) in [-1.0, 0.25, 0.9].iter().enumerate() {
                    let (want_mean, want_var) = (alpha_bar.sqrt() * start, 1.0 - alpha_bar);
                    // Standard errors at 40,000 samples: sd/200 for the mean, var * sqrt(2/N) ~ var/141 for var.
                    assert!(
                        (mean[k] - want_mean).abs() < 1e-3 + 4.0 * want_var.sqrt() / 200.0,
                        "{what} t={t}: mean {} vs {want_mean}",
                        mean[k]
                    );
                    assert!(
                        (var[k] - want_var).abs() < 1e-4 + 4.0 * want_var / 141.0,
                        "{what} t={t}: var {} vs {want_var}",
                        var[k]
                    );
                }
            }
        }
    }

    #[test]
    fn a_perfect_noise_predictor_recovers_the_image() {
        // With the true noise of a known x0, the clipped x0 estimate is x0 itself at every step, and DDIM with
        // eta = 0 returns x0 from any start when the model always answers with the noise consistent with x0.
        let diffusion = Diffusion::new(BetaSchedule::Cosine, 100, Device::Cpu);
        let x0 = Tensor::from_slice(&[-0.5f32, 0.0, 0.75, 1.0]).view([1, 1, 2, 2]);
        let oracle = |x: &Tensor, t: &Tensor| {
            let alpha_bar = diffusion.alpha_bars[t.int64_value(&[0]) as usize];
            (x - &x0 * alpha_bar.sqrt()) / (1.0 - alpha_bar).sqrt()
        };
        let out = diffusion.sample_ddim(1, [1, 2, 2], 10, 0.0, Device::Cpu, oracle);
        assert!(out.allclose(&x0, 1e-4, 1e-4, false), "{out}");
        let out = diffusion.sample_ancestral(1, [1, 2, 2], Device::Cpu, oracle);
        assert!(out.allclose(&x0, 1e-3, 1e-3, false), "{out}");
    }
}
