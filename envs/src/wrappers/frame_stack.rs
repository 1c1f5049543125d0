use super::forward_env;
use crate::{Action, Env, EnvError, Info, Result, Space, Step};

/// What fills the stack right after a reset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StackPadding {
    /// Copies of the reset observation (Gymnasium's `FrameStackObservation` default, CleanRL's Atari setup).
    Reset,
    /// Zeros (SB3's `VecFrameStack`).
    Zero,
}

/// Stacks the last `k` observations along a new leading axis: shape `[k, *obs_shape]`, oldest first.
#[derive(Debug, Clone)]
pub struct FrameStack<E: Env> {
    env: E,
    k: usize,
    padding: StackPadding,
    observation_space: Space,
    /// Ring buffer of the last k frames, `[k, frame_len]`; `head` is the slot of the oldest.
    frames: Vec<E::Obs>,
    head: usize,
    frame_len: usize,
}

impl<E: Env> FrameStack<E> {
    pub fn new(env: E, k: usize, padding: StackPadding) -> Result<Self> {
        if k == 0 {
            return Err(EnvError::InvalidConfig("FrameStack needs k >= 1".into()));
        }
        let Space::Box { low, high, shape, dtype } = env.observation_space() else {
            return Err(EnvError::InvalidConfig(format!(
                "FrameStack needs a Box observation space, got {}",
                env.observation_space()
            )));
        };
        let observation_space = Space::Box {
            low: low.repeat(k),
            high: high.repeat(k),
            shape: std::iter::once(k).chain(shape.iter().copied()).collect(),
            dtype: *dtype,
        };
        let frame_len = low.len();
        Ok(FrameStack {
            env,
            k,
            padding,
            observation_space,
            frames: vec![E::Obs::default(); k * frame_len],
            head: 0,
            frame_len,
        })
    }

    /// Writes the stack, oldest first, into `obs`.
    fn write_stack(&self, obs: &mut [E::Obs]) {
        let n = self.frame_len;
        for i in 0..self.k {
            let slot = (self.head + i) % self.k;
            obs[i * n..(i + 1) * n].copy_from_slice(&self.frames[slot * n..(slot + 1) * n]);
        }
    }
}

impl<E: Env> Env for FrameStack<E>
where
    E::Obs: serde::Serialize + serde::de::DeserializeOwned,
{
    type Obs = E::Obs;
    forward_env!(state);
    forward_env!(snapshot "FrameStack", frames: Vec<E::Obs>, head: usize);

    fn observation_space(&self) -> &Space {
        &self.observation_space
    }
    fn action_space(&self) -> &Space {
        self.env.action_space()
    }

    fn reset_into(&mut self, seed: Option<u64>, obs: &mut [E::Obs]) -> Info {
        let n = self.frame_len;
        // The newest frame goes to the last slot; with head = 0 the order is slots 0..k.
        let info = self.env.reset_into(seed, &mut self.frames[(self.k - 1) * n..]);
        let (pad, newest) = self.frames.split_at_mut((self.k - 1) * n);
        for chunk in pad.chunks_mut(n) {
            match self.padding {
                StackPadding::Reset => chunk.copy_from_slice(newest),
                StackPadding::Zero => chunk.fill(E::Obs::default()),
            }
        }
        self.head = 0;
        self.write_stack(obs);
        info
    }

    fn step_into(&mut self, action: Action<'_>, obs: &mut [E::Obs]) -> Result<Step> {
        let n = self.frame_len;
        // The oldest slot receives the new frame and becomes the newest.
        let slot = self.head;
        let step = self.env.step_into(action, &mut self.frames[slot * n..(slot + 1) * n])?;
        self.head = (self.head + 1) % self.k;
        self.write_stack(obs);
        Ok(step)
    }
}
