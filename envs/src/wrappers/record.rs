use super::forward_env;
use crate::{Action, Env, EpisodeStats, Info, Result, Step};

/// Sums rewards and counts steps; on the step that ends an episode, puts them in `info.episode`.
///
/// Place it inside reward-changing wrappers (normalization, clipping) to record the raw game score.
#[derive(Debug, Clone)]
pub struct RecordEpisodeStatistics<E> {
    env: E,
    episode_return: f64,
    episode_length: u64,
}

impl<E: Env> RecordEpisodeStatistics<E> {
    pub fn new(env: E) -> Self {
        RecordEpisodeStatistics { env, episode_return: 0.0, episode_length: 0 }
    }
}

impl<E: Env> Env for RecordEpisodeStatistics<E> {
    type Obs = E::Obs;
    forward_env!(spaces);
    forward_env!(state);
    forward_env!(snapshot "RecordEpisodeStatistics", episode_return: f64, episode_length: u64);

    fn reset_into(&mut self, seed: Option<u64>, obs: &mut [E::Obs]) -> Info {
        self.episode_return = 0.0;
        self.episode_length = 0;
        self.env.reset_into(seed, obs)
    }

    fn step_into(&mut self, action: Action<'_>, obs: &mut [E::Obs]) -> Result<Step> {
        let mut step = self.env.step_into(action, obs)?;
        self.episode_return += step.reward;
        self.episode_length += 1;
        if step.done() {
            step.info.episode = Some(EpisodeStats { ret: self.episode_return, len: self.episode_length });
        }
        Ok(step)
    }
}
