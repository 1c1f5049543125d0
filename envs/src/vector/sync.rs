use super::{check_same_spaces, env_snapshots, reset_rows, step_rows, validate_actions, Actions, Batch, VecEnv};
use crate::error::{EnvError, Result};
use crate::render::RgbFrame;
use crate::{Env, Snapshot, Space};

/// Steps its envs one after the other on the calling thread (Gymnasium's `SyncVectorEnv`).
pub struct SyncVecEnv<E: Env> {
    envs: Vec<E>,
    batch: Batch<E::Obs>,
    observation_space: Space,
    action_space: Space,
}

impl<E: Env> SyncVecEnv<E> {
    pub fn new(envs: Vec<E>) -> Result<Self> {
        let first =
            envs.first().ok_or_else(|| EnvError::InvalidConfig("a vector env needs at least one env".into()))?;
        envs.iter().try_for_each(|e| check_same_spaces(first, e))?;
        let (observation_space, action_space) = (first.observation_space().clone(), first.action_space().clone());
        let batch = Batch::new(envs.len(), observation_space.flat_dim());
        Ok(SyncVecEnv { envs, batch, observation_space, action_space })
    }

    /// `num_envs` envs from a constructor taking the env index.
    pub fn from_fn(num_envs: usize, make_env: impl Fn(usize) -> Result<E>) -> Result<Self> {
        Self::new((0..num_envs).map(make_env).collect::<Result<_>>()?)
    }

    pub fn envs(&self) -> &[E] {
        &self.envs
    }
}

impl<E: Env> VecEnv for SyncVecEnv<E> {
    type Obs = E::Obs;

    fn num_envs(&self) -> usize {
        self.envs.len()
    }
    fn single_observation_space(&self) -> &Space {
        &self.observation_space
    }
    fn single_action_space(&self) -> &Space {
        &self.action_space
    }

    fn reset(&mut self, seed: Option<u64>) -> Result<&Batch<E::Obs>> {
        let n = self.envs.len();
        reset_rows(&mut self.envs, 0, seed, self.batch.rows_mut(0..n));
        Ok(&self.batch)
    }

    fn step(&mut self, actions: Actions<'_>) -> Result<&Batch<E::Obs>> {
        let n = self.envs.len();
        validate_actions(&self.action_space, actions, n)?;
        step_rows(&mut self.envs, 0, actions, self.action_space.flat_dim(), self.batch.rows_mut(0..n))?;
        Ok(&self.batch)
    }

    fn snapshot(&mut self) -> Result<Snapshot> {
        Ok(Snapshot::Array(self.envs.iter().map(Env::snapshot).collect::<Result<_>>()?))
    }

    fn restore(&mut self, snapshot: &Snapshot) -> Result<()> {
        let saved = env_snapshots(snapshot, self.envs.len())?;
        self.envs.iter_mut().zip(saved).try_for_each(|(env, s)| env.restore(s))
    }

    fn render(&mut self) -> Result<RgbFrame> {
        self.envs[0].render()
    }
    fn render_fps(&self) -> u32 {
        self.envs[0].render_fps()
    }
}
