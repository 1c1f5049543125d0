use super::forward_env;
use crate::{Action, Env, EnvError, Info, Result, Space, Step};

/// Running mean and variance over a stream of vectors (Chan et al.'s parallel update), as Gymnasium's and SB3's
/// `RunningMeanStd`: starts at mean 0, var 1, count `1e-4`. Serializable so statistics travel with a model.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RunningMeanStd {
    pub mean: Vec<f64>,
    pub var: Vec<f64>,
    pub count: f64,
}

impl RunningMeanStd {
    pub fn new(dim: usize) -> Self {
        RunningMeanStd { mean: vec![0.0; dim], var: vec![1.0; dim], count: 1e-4 }
    }

    /// Updates with a batch of `rows` vectors laid out row-major in `batch` (`[rows, dim]`).
    pub fn update<T: Into<f64> + Copy>(&mut self, batch: &[T]) {
        let dim = self.mean.len();
        let rows = batch.len() / dim;
        if rows == 0 {
            return;
        }
        for d in 0..dim {
            let column = batch.iter().skip(d).step_by(dim).map(|&v| v.into());
            let batch_mean = column.clone().sum::<f64>() / rows as f64;
            let batch_var = column.map(|v: f64| (v - batch_mean).powi(2)).sum::<f64>() / rows as f64;
            self.update_dim(d, batch_mean, batch_var, rows as f64);
        }
        self.count += rows as f64;
    }

    /// Updates with a single scalar stream value (for reward normalization).
    pub fn update_scalar(&mut self, value: f64) {
        self.update_dim(0, value, 0.0, 1.0);
        self.count += 1.0;
    }

    fn update_dim(&mut self, d: usize, batch_mean: f64, batch_var: f64, batch_count: f64) {
        let delta = batch_mean - self.mean[d];
        let total = self.count + batch_count;
        let m2 = self.var[d] * self.count + batch_var * batch_count + delta * delta * self.count * batch_count / total;
        self.mean[d] += delta * batch_count / total;
        self.var[d] = m2 / total;
    }

    /// `clip((x - mean) / sqrt(var + epsilon), -clip, clip)` in place.
    pub fn normalize(&self, x: &mut [f32], epsilon: f64, clip: f64) {
        let dim = self.mean.len();
        for (i, v) in x.iter_mut().enumerate() {
            let d = i % dim;
            *v = ((*v as f64 - self.mean[d]) / (self.var[d] + epsilon).sqrt()).clamp(-clip, clip) as f32;
        }
    }

    /// Saves as JSON (the format rlx checkpoints use for normalization statistics).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("plain numbers serialize")
    }

    pub fn from_json(text: &str) -> Result<Self> {
        let rms: Self = serde_json::from_str(text)
            .map_err(|e| EnvError::Load { what: "running mean/std statistics".into(), reason: e.to_string() })?;
        if rms.mean.len() != rms.var.len() || rms.count <= 0.0 || rms.var.iter().any(|v| *v < 0.0 || !v.is_finite()) {
            return Err(EnvError::Load {
                what: "running mean/std statistics".into(),
                reason: "inconsistent values".into(),
            });
        }
        Ok(rms)
    }
}

/// Normalizes observations to zero mean and unit variance with running statistics (Gymnasium's
/// `NormalizeObservation`, epsilon 1e-8; `clip` defaults to infinity there and 10 in SB3's `VecNormalize`).
/// `set_training(false)` freezes the statistics for evaluation.
#[derive(Debug, Clone)]
pub struct NormalizeObservation<E> {
    env: E,
    pub rms: RunningMeanStd,
    pub epsilon: f64,
    pub clip: f64,
    training: bool,
}

impl<E: Env<Obs = f32>> NormalizeObservation<E> {
    pub fn new(env: E) -> Self {
        let dim = env.observation_space().flat_dim();
        NormalizeObservation { env, rms: RunningMeanStd::new(dim), epsilon: 1e-8, clip: f64::INFINITY, training: true }
    }
    pub fn set_training(&mut self, training: bool) {
        self.training = training;
    }

    fn process(&mut self, obs: &mut [f32]) {
        if self.training {
            self.rms.update(obs);
        }
        self.rms.normalize(obs, self.epsilon, self.clip);
    }
}

impl<E: Env<Obs = f32>> Env for NormalizeObservation<E> {
    type Obs = f32;
    forward_env!(spaces);
    forward_env!(state);
    forward_env!(snapshot "NormalizeObservation", rms: RunningMeanStd, training: bool);

    fn reset_into(&mut self, seed: Option<u64>, obs: &mut [f32]) -> Info {
        let info = self.env.reset_into(seed, obs);
        self.process(obs);
        info
    }

    fn step_into(&mut self, action: Action<'_>, obs: &mut [f32]) -> Result<Step> {
        let step = self.env.step_into(action, obs)?;
        self.process(obs);
        Ok(step)
    }
}

/// Scales rewards by the running standard deviation of the discounted return (Gymnasium's `NormalizeReward`:
/// `r / sqrt(var(G) + 1e-8)` with `G = gamma * G * (1 - terminated) + r`; the mean is not subtracted).
#[derive(Debug, Clone)]
pub struct NormalizeReward<E> {
    env: E,
    pub rms: RunningMeanStd,
    pub gamma: f64,
    pub epsilon: f64,
    discounted_return: f64,
    training: bool,
}

impl<E: Env> NormalizeReward<E> {
    pub fn new(env: E, gamma: f64) -> Self {
        NormalizeReward {
            env,
            rms: RunningMeanStd::new(1),
            gamma,
            epsilon: 1e-8,
            discounted_return: 0.0,
            training: true,
        }
    }
    pub fn set_training(&mut self, training: bool) {
        self.training = training;
    }
}

impl<E: Env> Env for NormalizeReward<E> {
    type Obs = E::Obs;
    forward_env!(state);
    forward_env!(snapshot "NormalizeReward", rms: RunningMeanStd, discounted_return: f64, training: bool);

    fn observation_space(&self) -> &Space {
        self.env.observation_space()
    }
    fn action_space(&self) -> &Space {
        self.env.action_space()
    }

    fn reset_into(&mut self, seed: Option<u64>, obs: &mut [E::Obs]) -> Info {
        self.env.reset_into(seed, obs)
    }

    fn step_into(&mut self, action: Action<'_>, obs: &mut [E::Obs]) -> Result<Step> {
        let mut step = self.env.step_into(action, obs)?;
        let not_terminated = if step.terminated { 0.0 } else { 1.0 };
        self.discounted_return = self.discounted_return * self.gamma * not_terminated + step.reward;
        if self.training {
            self.rms.update_scalar(self.discounted_return);
        }
        step.reward /= (self.rms.var[0] + self.epsilon).sqrt();
        Ok(step)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Numbers from SB3's RunningMeanStd algorithm (stable_baselines3/common/running_mean_std.py), NumPy 2.3:
    /// rms = RunningMeanStd(shape=(2,)); rms.update(np.array([[1., 2.], [3., 6.], [5., 7.]]));
    /// rms.update(np.array([[0., -1.]])) -> mean [2.249943751406, 3.499912502187],
    /// var [3.687559370352, 10.250074990469], count 4.0001
    #[test]
    fn running_mean_std_matches_sb3() {
        let mut rms = RunningMeanStd::new(2);
        rms.update(&[1.0, 2.0, 3.0, 6.0, 5.0, 7.0]);
        rms.update(&[0.0, -1.0]);
        let expect_mean = [2.249943751406, 3.499912502187];
        let expect_var = [3.687559370352, 10.250074990469];
        for d in 0..2 {
            assert!((rms.mean[d] - expect_mean[d]).abs() < 1e-11, "{:?}", rms.mean);
            assert!((rms.var[d] - expect_var[d]).abs() < 1e-11, "{:?}", rms.var);
        }
        assert!((rms.count - 4.0001).abs() < 1e-12);
        let back = RunningMeanStd::from_json(&rms.to_json()).unwrap();
        assert_eq!(back, rms);
        assert!(RunningMeanStd::from_json("{\"mean\":[0.0],\"var\":[-1.0],\"count\":1.0}").is_err());
        assert!(RunningMeanStd::from_json("not json").is_err());
    }
}
