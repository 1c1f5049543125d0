//! SB3's `RolloutBuffer`: `n_steps` transitions of `n_envs` envs, then GAE.

/// On-policy storage, laid out `[n_steps, n_envs, ...]` row-major like SB3's buffer.
#[derive(Debug, Clone)]
pub struct RolloutBuffer<T> {
    pub n_steps: usize,
    pub n_envs: usize,
    pub obs_len: usize,
    pub action_len: usize,
    /// `[n_steps, n_envs, obs_len]`
    pub obs: Vec<T>,
    /// `[n_steps, n_envs, action_len]`; discrete actions as floats, as SB3 stores them.
    pub actions: Vec<f32>,
    /// `[n_steps, n_envs]`, after time-limit bootstrapping (see `Ppo::collect_rollouts`).
    pub rewards: Vec<f32>,
    /// `[n_steps, n_envs]`: 1 where the observation is the first of an episode.
    pub episode_starts: Vec<f32>,
    /// `[n_steps, n_envs]`: V(s_t) under the policy that collected the data.
    pub values: Vec<f32>,
    /// `[n_steps, n_envs]`: log pi(a_t | s_t) under that policy.
    pub log_probs: Vec<f32>,
    /// `[n_steps, n_envs]`, filled by `compute_returns_and_advantage`.
    pub advantages: Vec<f32>,
    /// `[n_steps, n_envs]`: advantages + values, the TD(lambda) targets of the value function.
    pub returns: Vec<f32>,
    pos: usize,
}

impl<T: Copy + Default> RolloutBuffer<T> {
    pub fn new(n_steps: usize, n_envs: usize, obs_len: usize, action_len: usize) -> Self {
        let n = n_steps * n_envs;
        RolloutBuffer {
            n_steps,
            n_envs,
            obs_len,
            action_len,
            obs: vec![T::default(); n * obs_len],
            actions: vec![0.0; n * action_len],
            rewards: vec![0.0; n],
            episode_starts: vec![0.0; n],
            values: vec![0.0; n],
            log_probs: vec![0.0; n],
            advantages: vec![0.0; n],
            returns: vec![0.0; n],
            pos: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.pos * self.n_envs
    }
    pub fn is_empty(&self) -> bool {
        self.pos == 0
    }
    pub fn is_full(&self) -> bool {
        self.pos == self.n_steps
    }
    pub fn reset(&mut self) {
        self.pos = 0;
    }

    /// Stores one step of every env.
    #[allow(clippy::too_many_arguments)]
    pub fn add(
        &mut self,
        obs: &[T],
        actions: &[f32],
        rewards: &[f32],
        episode_starts: &[bool],
        values: &[f32],
        log_probs: &[f32],
    ) {
        assert!(!self.is_full(), "rollout buffer is full");
        let (t, n) = (self.pos, self.n_envs);
        self.obs[t * n * self.obs_len..(t + 1) * n * self.obs_len].copy_from_slice(obs);
        self.actions[t * n * self.action_len..(t + 1) * n * self.action_len].copy_from_slice(actions);
        self.rewards[t * n..(t + 1) * n].copy_from_slice(rewards);
        for (dst, &s) in self.episode_starts[t * n..(t + 1) * n].iter_mut().zip(episode_starts) {
            *dst = if s { 1.0 } else { 0.0 };
        }
        self.values[t * n..(t + 1) * n].copy_from_slice(values);
        self.log_probs[t * n..(t + 1) * n].copy_from_slice(log_probs);
        self.pos += 1;
    }

    /// GAE(lambda) (Schulman et al. 2015), exactly as SB3:
    /// `delta_t = r_t + gamma * V(s_{t+1}) * (1 - done_{t+1}) - V(s_t)`,
    /// `A_t = delta_t + gamma * lambda * (1 - done_{t+1}) * A_{t+1}`, `R_t = A_t + V(s_t)`.
    /// `last_values`: V of the observation after the last step; `dones`: whether that step ended each episode.
    pub fn compute_returns_and_advantage(&mut self, last_values: &[f32], dones: &[bool], gamma: f32, gae_lambda: f32) {
        let n = self.n_envs;
        for env in 0..n {
            let mut last_gae_lam = 0.0f32;
            for step in (0..self.pos).rev() {
                let (next_non_terminal, next_value) = if step == self.pos - 1 {
                    (if dones[env] { 0.0 } else { 1.0 }, last_values[env])
                } else {
                    (1.0 - self.episode_starts[(step + 1) * n + env], self.values[(step + 1) * n + env])
                };
                let i = step * n + env;
                let delta = self.rewards[i] + gamma * next_value * next_non_terminal - self.values[i];
                last_gae_lam = delta + gamma * gae_lambda * next_non_terminal * last_gae_lam;
                self.advantages[i] = last_gae_lam;
                self.returns[i] = last_gae_lam + self.values[i];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One env, three steps, an episode boundary after step 1 (step 2 starts a new episode), by hand:
    /// gamma = 0.9, lambda = 0.5; r = [1, 2, 3]; V = [0.5, 1.0, 2.0]; last V = 4.0, last step not done.
    ///   t=2: delta = 3 + 0.9*4.0 - 2.0 = 4.6;            A2 = 4.6
    ///   t=1: next is an episode start: delta = 2 - 1.0 = 1.0; A1 = 1.0 (no bootstrap across the boundary)
    ///   t=0: delta = 1 + 0.9*1.0 - 0.5 = 1.4;            A0 = 1.4 + 0.45 * 1.0 = 1.85
    /// returns = A + V = [2.35, 2.0, 6.6]
    #[test]
    fn gae_matches_the_hand_worked_example() {
        let mut buf = RolloutBuffer::<f32>::new(3, 1, 1, 1);
        buf.add(&[0.0], &[0.0], &[1.0], &[true], &[0.5], &[0.0]);
        buf.add(&[0.0], &[0.0], &[2.0], &[false], &[1.0], &[0.0]);
        buf.add(&[0.0], &[0.0], &[3.0], &[true], &[2.0], &[0.0]);
        buf.compute_returns_and_advantage(&[4.0], &[false], 0.9, 0.5);
        let close = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-6);
        assert!(close(&buf.advantages, &[1.85, 1.0, 4.6]), "{:?}", buf.advantages);
        assert!(close(&buf.returns, &[2.35, 2.0, 6.6]), "{:?}", buf.returns);
    }

    /// Two envs interleaved; a final `done` stops bootstrapping from `last_values`. lambda = 1, gamma = 1 turns
    /// GAE into Monte-Carlo returns minus values.
    #[test]
    fn gae_with_lambda_one_is_monte_carlo_and_respects_final_dones() {
        let mut buf = RolloutBuffer::<f32>::new(2, 2, 1, 1);
        buf.add(&[0.0, 0.0], &[0.0, 0.0], &[1.0, 10.0], &[true, true], &[0.0, 0.0], &[0.0, 0.0]);
        buf.add(&[0.0, 0.0], &[0.0, 0.0], &[1.0, 10.0], &[false, false], &[0.0, 0.0], &[0.0, 0.0]);
        buf.compute_returns_and_advantage(&[100.0, 100.0], &[false, true], 1.0, 1.0);
        // env 0 bootstraps: 1 + 1 + 100; env 1's episode ended: 10 + 10.
        assert_eq!(buf.returns, vec![102.0, 20.0, 101.0, 10.0]);
    }
}
