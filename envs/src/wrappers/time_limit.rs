use super::forward_env;
use crate::{Action, Env, Info, Result, Step};

/// Truncates episodes after `max_episode_steps` steps (`truncated = true`; `terminated` is left as the env says).
#[derive(Debug, Clone)]
pub struct TimeLimit<E> {
    env: E,
    max_episode_steps: u64,
    elapsed_steps: u64,
}

impl<E: Env> TimeLimit<E> {
    pub fn new(env: E, max_episode_steps: u64) -> Self {
        TimeLimit { env, max_episode_steps, elapsed_steps: 0 }
    }
    pub fn max_episode_steps(&self) -> u64 {
        self.max_episode_steps
    }
    pub fn inner(&self) -> &E {
        &self.env
    }
}

impl<E: Env> Env for TimeLimit<E> {
    type Obs = E::Obs;
    forward_env!(spaces);
    forward_env!(state);
    forward_env!(snapshot "TimeLimit", elapsed_steps: u64);

    fn reset_into(&mut self, seed: Option<u64>, obs: &mut [E::Obs]) -> Info {
        self.elapsed_steps = 0;
        self.env.reset_into(seed, obs)
    }

    fn step_into(&mut self, action: Action<'_>, obs: &mut [E::Obs]) -> Result<Step> {
        let mut step = self.env.step_into(action, obs)?;
        self.elapsed_steps += 1;
        if self.elapsed_steps >= self.max_episode_steps {
            step.truncated = true;
        }
        Ok(step)
    }
}
