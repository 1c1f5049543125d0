//! Vector envs: N copies of an env stepped as one batch.
//!
//! Autoreset follows SB3's `VecEnv` and Gymnasium's `AutoresetMode.SAME_STEP`: when env i's episode ends at a
//! step, that step's `obs(i)` is already the first observation of the next episode, and the observation that ended
//! the episode is in `final_obs(i)` (valid where `done(i)`), so agents can bootstrap from it on truncation.
//! Env i is seeded `seed + i` on a seeded reset; the same seed gives the same trajectories whatever the thread count.
//!
//! [`SyncVecEnv`] and [`ThreadedVecEnv`] step every env at each call ([`VecEnv`]); [`AsyncVecEnv`] is EnvPool's
//! asynchronous mode (`send` actions to some envs, `recv` the first `batch_size` that finish).

mod async_pool;
mod normalize;
mod sync;
mod threaded;

pub use async_pool::AsyncVecEnv;
pub use normalize::{VecNormalize, VecNormalizeConfig, VecNormalizeState};
pub use sync::SyncVecEnv;
pub use threaded::ThreadedVecEnv;

use crate::error::{EnvError, Result};
use crate::render::RgbFrame;
use crate::{Action, Env, Info, Snapshot, Space};

/// The actions of a whole batch, row-major `[num_envs, per_env]` (`per_env` = 1 for Discrete).
#[derive(Debug, Clone, Copy)]
pub enum Actions<'a> {
    Discrete(&'a [i64]),
    MultiDiscrete(&'a [i64]),
    Continuous(&'a [f32]),
}

impl<'a> Actions<'a> {
    pub fn len(&self) -> usize {
        match self {
            Actions::Discrete(a) | Actions::MultiDiscrete(a) => a.len(),
            Actions::Continuous(a) => a.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The action of env `i`.
    #[inline]
    pub fn get(&self, i: usize, per_env: usize) -> Action<'a> {
        match *self {
            Actions::Discrete(a) => Action::Discrete(a[i]),
            Actions::MultiDiscrete(a) => Action::MultiDiscrete(&a[i * per_env..(i + 1) * per_env]),
            Actions::Continuous(a) => Action::Continuous(&a[i * per_env..(i + 1) * per_env]),
        }
    }
}

/// Preallocated outputs of a vector env, written in place at every step.
#[derive(Debug, Clone)]
pub struct Batch<T> {
    /// `[num_envs, obs_len]`: the current observation of each env (after autoreset).
    pub obs: Vec<T>,
    /// `[num_envs]`
    pub rewards: Vec<f32>,
    /// `[num_envs]`
    pub terminated: Vec<bool>,
    /// `[num_envs]`
    pub truncated: Vec<bool>,
    /// `[num_envs, obs_len]`: the last observation of the episode that ended at this step; valid where `done(i)`.
    pub final_obs: Vec<T>,
    /// `[num_envs]`: per-env info of this step (episode statistics where an episode ended).
    pub infos: Vec<Info>,
    /// `[num_envs]`: the env each row belongs to: `0..num_envs` for the synchronous vector envs, the envs that
    /// finished first for [`AsyncVecEnv`] (EnvPool's `info["env_id"]`).
    pub env_ids: Vec<usize>,
    obs_len: usize,
}

impl<T: Copy + Default> Batch<T> {
    pub fn new(num_envs: usize, obs_len: usize) -> Self {
        Batch {
            obs: vec![T::default(); num_envs * obs_len],
            rewards: vec![0.0; num_envs],
            terminated: vec![false; num_envs],
            truncated: vec![false; num_envs],
            final_obs: vec![T::default(); num_envs * obs_len],
            infos: vec![Info::default(); num_envs],
            env_ids: (0..num_envs).collect(),
            obs_len,
        }
    }

    pub fn num_envs(&self) -> usize {
        self.rewards.len()
    }
    pub fn obs_len(&self) -> usize {
        self.obs_len
    }
    pub fn obs(&self, i: usize) -> &[T] {
        &self.obs[i * self.obs_len..(i + 1) * self.obs_len]
    }
    pub fn final_obs(&self, i: usize) -> &[T] {
        &self.final_obs[i * self.obs_len..(i + 1) * self.obs_len]
    }
    pub fn done(&self, i: usize) -> bool {
        self.terminated[i] || self.truncated[i]
    }

    /// Mutable views of the rows `range`, for the envs that write them.
    pub(crate) fn rows_mut(&mut self, range: std::ops::Range<usize>) -> Rows<'_, T> {
        let n = self.obs_len;
        Rows {
            obs: &mut self.obs[range.start * n..range.end * n],
            rewards: &mut self.rewards[range.clone()],
            terminated: &mut self.terminated[range.clone()],
            truncated: &mut self.truncated[range.clone()],
            final_obs: &mut self.final_obs[range.start * n..range.end * n],
            infos: &mut self.infos[range],
        }
    }
}

/// A contiguous block of batch rows, owned mutably by the code that steps those envs.
pub(crate) struct Rows<'a, T> {
    pub obs: &'a mut [T],
    pub rewards: &'a mut [f32],
    pub terminated: &'a mut [bool],
    pub truncated: &'a mut [bool],
    pub final_obs: &'a mut [T],
    pub infos: &'a mut [Info],
}

/// A batch of envs. The returned `Batch` stays valid until the next call.
pub trait VecEnv {
    type Obs: Copy + Default + Send + Sync + 'static;
    fn num_envs(&self) -> usize;
    fn single_observation_space(&self) -> &Space;
    fn single_action_space(&self) -> &Space;
    /// Resets every env; `Some(seed)` seeds env i with `seed + i`.
    fn reset(&mut self, seed: Option<u64>) -> Result<&Batch<Self::Obs>>;
    /// Steps every env with its action, autoresetting finished episodes (see the module docs).
    fn step(&mut self, actions: Actions<'_>) -> Result<&Batch<Self::Obs>>;
    /// Snapshots of every env (see `Env::snapshot`), for checkpoints.
    fn snapshot(&mut self) -> Result<Snapshot>;
    /// Restores what `snapshot` returned; the batch buffers are not restored (the agent keeps its last obs).
    fn restore(&mut self, snapshot: &Snapshot) -> Result<()>;
    /// The current frame of env 0 (see `Env::render`); vector envs whose envs live on other threads cannot.
    fn render(&mut self) -> Result<RgbFrame> {
        Err(EnvError::Unsupported("this vector env cannot render: use one env on the calling thread".into()))
    }
    /// Env 0's `Env::render_fps`.
    fn render_fps(&self) -> u32 {
        30
    }
}

impl<V: VecEnv + ?Sized> VecEnv for Box<V> {
    type Obs = V::Obs;
    fn num_envs(&self) -> usize {
        (**self).num_envs()
    }
    fn single_observation_space(&self) -> &Space {
        (**self).single_observation_space()
    }
    fn single_action_space(&self) -> &Space {
        (**self).single_action_space()
    }
    fn reset(&mut self, seed: Option<u64>) -> Result<&Batch<Self::Obs>> {
        (**self).reset(seed)
    }
    fn step(&mut self, actions: Actions<'_>) -> Result<&Batch<Self::Obs>> {
        (**self).step(actions)
    }
    fn snapshot(&mut self) -> Result<Snapshot> {
        (**self).snapshot()
    }
    fn restore(&mut self, snapshot: &Snapshot) -> Result<()> {
        (**self).restore(snapshot)
    }
    fn render(&mut self) -> Result<RgbFrame> {
        (**self).render()
    }
    fn render_fps(&self) -> u32 {
        (**self).render_fps()
    }
}

/// The per-env snapshots inside a vector env snapshot, checked against the env count.
pub(crate) fn env_snapshots(snapshot: &Snapshot, num_envs: usize) -> Result<&Vec<Snapshot>> {
    match snapshot.as_array() {
        Some(envs) if envs.len() == num_envs => Ok(envs),
        _ => Err(EnvError::Load {
            what: "vector env snapshot".into(),
            reason: format!("expected a list of {num_envs} env snapshots"),
        }),
    }
}

/// Checks the batch size and every action against the action space, before any env moves.
pub(crate) fn validate_actions(space: &Space, actions: Actions<'_>, num_envs: usize) -> Result<()> {
    let per_env = space.flat_dim();
    if actions.len() != num_envs * per_env {
        return Err(EnvError::BatchSize { expected: num_envs * per_env, num_envs, per_env, got: actions.len() });
    }
    (0..num_envs).try_for_each(|i| space.validate(actions.get(i, per_env)))
}

/// Checks that all envs of a vector env agree on their spaces.
pub(crate) fn check_same_spaces<E: Env>(first: &E, other: &E) -> Result<()> {
    if first.observation_space() != other.observation_space() || first.action_space() != other.action_space() {
        return Err(EnvError::InvalidConfig("all envs of a vector env must have the same spaces".into()));
    }
    Ok(())
}

/// Resets `envs`, the envs `first..first + envs.len()` of the batch, into `rows`.
pub(crate) fn reset_rows<E: Env>(envs: &mut [E], first: usize, seed: Option<u64>, mut rows: Rows<'_, E::Obs>) {
    for (j, env) in envs.iter_mut().enumerate() {
        reset_row(env, first + j, seed, &mut rows, j);
    }
}

/// Resets env `index` (seeded `seed + index`) into row `j` of `rows`.
pub(crate) fn reset_row<E: Env>(env: &mut E, index: usize, seed: Option<u64>, rows: &mut Rows<'_, E::Obs>, j: usize) {
    let n = rows.obs.len() / rows.rewards.len();
    rows.infos[j] = env.reset_into(seed.map(|s| s.wrapping_add(index as u64)), &mut rows.obs[j * n..(j + 1) * n]);
    rows.rewards[j] = 0.0;
    rows.terminated[j] = false;
    rows.truncated[j] = false;
}

/// Steps `envs`, the envs `first..first + envs.len()` of the batch, with same-step autoreset.
pub(crate) fn step_rows<E: Env>(
    envs: &mut [E],
    first: usize,
    actions: Actions<'_>,
    per_env: usize,
    mut rows: Rows<'_, E::Obs>,
) -> Result<()> {
    for (j, env) in envs.iter_mut().enumerate() {
        step_row(env, actions.get(first + j, per_env), &mut rows, j)?;
    }
    Ok(())
}

/// Steps one env into row `j` of `rows`; an episode that ends is reset at once, its last observation kept in
/// `final_obs`.
pub(crate) fn step_row<E: Env>(env: &mut E, action: Action<'_>, rows: &mut Rows<'_, E::Obs>, j: usize) -> Result<()> {
    let n = rows.obs.len() / rows.rewards.len();
    let obs = &mut rows.obs[j * n..(j + 1) * n];
    let step = env.step_into(action, obs)?;
    rows.rewards[j] = step.reward as f32;
    rows.terminated[j] = step.terminated;
    rows.truncated[j] = step.truncated;
    rows.infos[j] = step.info;
    if step.done() {
        rows.final_obs[j * n..(j + 1) * n].copy_from_slice(obs);
        env.reset_into(None, obs);
    }
    Ok(())
}
