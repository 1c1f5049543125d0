use super::forward_env;
use crate::{Action, Env, EnvError, Info, Result, Space, Step};

/// Clips continuous actions to the action space's bounds before the env sees them.
#[derive(Debug, Clone)]
pub struct ClipAction<E> {
    env: E,
    /// Reused buffer for the clipped action (no allocation per step).
    scratch: Vec<f32>,
}

impl<E: Env> ClipAction<E> {
    pub fn new(env: E) -> Result<Self> {
        let Space::Box { low, .. } = env.action_space() else {
            return Err(EnvError::InvalidConfig(format!(
                "ClipAction needs a Box action space, got {}",
                env.action_space()
            )));
        };
        let scratch = vec![0.0; low.len()];
        Ok(ClipAction { env, scratch })
    }
}

impl<E: Env> Env for ClipAction<E> {
    type Obs = E::Obs;
    forward_env!(spaces);
    forward_env!(state);
    forward_env!(snapshot);

    fn reset_into(&mut self, seed: Option<u64>, obs: &mut [E::Obs]) -> Info {
        self.env.reset_into(seed, obs)
    }

    fn step_into(&mut self, action: Action<'_>, obs: &mut [E::Obs]) -> Result<Step> {
        self.env.action_space().validate(action)?;
        let (Action::Continuous(a), Space::Box { low, high, .. }) = (action, self.env.action_space()) else {
            unreachable!("validated against a Box space")
        };
        for (((out, &v), &lo), &hi) in self.scratch.iter_mut().zip(a).zip(low).zip(high) {
            *out = v.clamp(lo, hi);
        }
        self.env.step_into(Action::Continuous(&self.scratch), obs)
    }
}

/// Affinely maps actions from `[min_action, max_action]` to the env's Box bounds; the wrapper's action space is
/// the new range.
#[derive(Debug, Clone)]
pub struct RescaleAction<E> {
    env: E,
    action_space: Space,
    scratch: Vec<f32>,
}

impl<E: Env> RescaleAction<E> {
    pub fn new(env: E, min_action: f32, max_action: f32) -> Result<Self> {
        let Space::Box { low, high, .. } = env.action_space() else {
            return Err(EnvError::InvalidConfig(format!(
                "RescaleAction needs a Box action space, got {}",
                env.action_space()
            )));
        };
        if min_action.partial_cmp(&max_action) != Some(std::cmp::Ordering::Less)
            || !low.iter().chain(high).all(|v| v.is_finite())
        {
            return Err(EnvError::InvalidConfig(format!(
                "RescaleAction needs min_action < max_action and a bounded action space, got [{min_action}, {max_action}] for {}",
                env.action_space()
            )));
        }
        let n = low.len();
        let action_space = Space::box_f32(vec![min_action; n], vec![max_action; n]);
        Ok(RescaleAction { env, action_space, scratch: vec![0.0; n] })
    }
}

impl<E: Env> Env for RescaleAction<E> {
    type Obs = E::Obs;
    forward_env!(state);
    forward_env!(snapshot);

    fn observation_space(&self) -> &Space {
        self.env.observation_space()
    }
    fn action_space(&self) -> &Space {
        &self.action_space
    }

    fn reset_into(&mut self, seed: Option<u64>, obs: &mut [E::Obs]) -> Info {
        self.env.reset_into(seed, obs)
    }

    fn step_into(&mut self, action: Action<'_>, obs: &mut [E::Obs]) -> Result<Step> {
        self.action_space.validate(action)?;
        let (Action::Continuous(a), Space::Box { low: min, high: max, .. }, Space::Box { low, high, .. }) =
            (action, &self.action_space, self.env.action_space())
        else {
            unreachable!("validated against a Box space")
        };
        for (i, out) in self.scratch.iter_mut().enumerate() {
            // Gymnasium: low + (high - low) * ((action - min_action) / (max_action - min_action)), in f64.
            let (lo, hi, mn, mx) = (low[i] as f64, high[i] as f64, min[i] as f64, max[i] as f64);
            *out = (lo + (hi - lo) * ((a[i] as f64 - mn) / (mx - mn))) as f32;
        }
        self.env.step_into(Action::Continuous(&self.scratch), obs)
    }
}
