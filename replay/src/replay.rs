//! The replay buffer of off-policy agents (DQN), memory-lean for every observation type.
//!
//! Each env writes one *stream*: a ring of observation frames, one per env step, each stored once. A transition
//! starts at a frame and its next observation ends at the following frame, so nothing is stored twice:
//!
//! ```text
//! stream:  f0* f1 f2 ... f9 F  g0* g1 ...     (* = first frame of an episode, F = the final frame of an episode)
//! slot s:  action, reward, terminated, truncated of the step taken from frame s
//! ```
//!
//! An observation is the stack of the `stack` newest frames ending at a slot (Atari: 4 frames of 84x84; vector
//! observations: `stack = 1` and the frame is the whole vector). Frames before an episode's first frame are
//! replaced by that first frame (the padding `AtariEnv` and Gymnasium's `FrameStackObservation` use) or by
//! zeros (`Padding::Zeros`, SB3's `VecFrameStack`), so a rebuilt stack equals what the env returned.
//!
//! When an episode ends, its final observation (the one `VecEnv` reports as `final_obs`) is stored as a frame of
//! its own, and the next episode's first frame follows it. So a truncated transition (time limit) bootstraps from
//! its true final observation and is never stored as terminal: the memory-lean layout keeps the timeout handling
//! that SB3's `optimize_memory_usage` cannot combine with it. That costs one frame per episode.
//!
//! Memory: one frame per transition (Atari: 7,056 bytes) plus 9 bytes of slot data, against SB3's two stacks
//! (56,448 bytes; 28,224 with `optimize_memory_usage`). [`ReplayBuffer::bytes`] reports it.
//!
//! n-step returns are computed at sampling time from the stored rewards: `sum_j gamma^j r_{s+j}` over up to `n`
//! steps, cut at a termination (no bootstrap) or at a truncation (bootstrap from the final frame after it), and
//! the next observation is the stack at the slot after the last step; the discount of the bootstrap,
//! `gamma^steps`, comes with each sample.
//!
//! A transition can be sampled once its `n` successors are written (or its episode ended sooner) and while the
//! frames of its stack are still in the ring: the `stack - 1` oldest slots of a full ring and the newest ones
//! waiting for successors are left out (a handful per env).

use crate::error::{ReplayError, Result};
use crate::persist::Element;
use crate::sum_tree::SumTree;
use rand::Rng;

/// What fills a stack before an episode's first frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Padding {
    /// Repeat the episode's first frame (rlx's `AtariEnv`, Gymnasium's `FrameStackObservation`, CleanRL).
    Reset,
    /// Zeros (SB3's `VecFrameStack`).
    Zeros,
}

/// How a buffer is laid out and sampled.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayConfig {
    /// Transitions held in all, split evenly over the envs' streams.
    pub capacity: usize,
    pub n_envs: usize,
    /// Elements of one frame (Atari: 84 * 84; vector observations: the observation's length).
    pub frame_len: usize,
    /// Frames per observation (Atari: 4; vector observations: 1).
    pub stack: usize,
    pub padding: Padding,
    /// Steps of the n-step return (1 = the one-step TD target).
    pub n_step: usize,
    pub gamma: f64,
    /// Prioritized replay's exponent alpha (Schaul et al. 2016); `None` = uniform sampling.
    pub priority_alpha: Option<f64>,
}

/// One step of every env, as a vector env with same-step autoreset reports it (`rlx_envs::vector::Batch`).
pub struct Step<'a, T> {
    /// `[n_envs]` discrete action indices.
    pub actions: &'a [i64],
    /// `[n_envs]` rewards as the agent learns from them (Atari: clipped).
    pub rewards: &'a [f32],
    pub terminated: &'a [bool],
    pub truncated: &'a [bool],
    /// `[n_envs, stack * frame_len]`: each env's observation after the step: the next one, or for envs whose
    /// episode ended, the first one of their next episode.
    pub obs: &'a [T],
    /// `[n_envs, stack * frame_len]`: the observation that ended the episode; read only where one ended.
    pub final_obs: &'a [T],
}

/// A sampled minibatch, written into reusable buffers.
#[derive(Debug, Clone, Default)]
pub struct Batch<T> {
    /// `[B, stack * frame_len]`
    pub obs: Vec<T>,
    /// `[B, stack * frame_len]`: the observation the target bootstraps from.
    pub next_obs: Vec<T>,
    /// `[B]`
    pub actions: Vec<i64>,
    /// `[B]`: the (n-step) discounted reward sum.
    pub rewards: Vec<f32>,
    /// `[B]`: `gamma^steps` where the target bootstraps, 0 where the episode terminated within the n steps.
    pub discounts: Vec<f32>,
    /// `[B]`: importance-sampling weights `(N P(i))^-beta / max_j w_j` (all 1 for uniform sampling).
    pub weights: Vec<f32>,
    /// `[B]`: which transitions these are, for [`ReplayBuffer::update_priorities`].
    pub indices: Vec<usize>,
}

/// Per-slot flags.
const TRANSITION: u8 = 1; // a step was taken from this frame (not a final frame, not the newest one)
const TERMINATED: u8 = 2;
const TRUNCATED: u8 = 4;
const EPISODE_START: u8 = 8;

/// One env's ring of frames and slot data, addressed by a monotonic position (`pos % cap` is the ring slot).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Stream<T> {
    pub(crate) frames: Vec<T>,
    pub(crate) actions: Vec<i32>,
    pub(crate) rewards: Vec<f32>,
    pub(crate) flags: Vec<u8>,
    /// Position of the next frame to write; `written - cap.min(written)` is the oldest frame still held.
    pub(crate) written: u64,
}

/// See the module documentation.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayBuffer<T> {
    config: ReplayConfig,
    /// Frames per stream.
    pub(crate) cap: usize,
    pub(crate) streams: Vec<Stream<T>>,
    /// Prioritized replay: one leaf per (stream, slot), `priority^alpha` where a transition can be sampled, else 0.
    pub(crate) tree: Option<SumTree>,
    pub(crate) max_priority: f64,
    /// Transitions ever added (all envs).
    pub(crate) added: u64,
}

impl<T: Element> ReplayBuffer<T> {
    pub fn new(config: ReplayConfig) -> Result<Self> {
        let bad = |msg: String| Err(ReplayError::Config(msg));
        if config.n_envs == 0 || config.frame_len == 0 || config.stack == 0 || config.n_step == 0 {
            return bad("n_envs, frame_len, stack and n_step must be at least 1".into());
        }
        let cap = config.capacity / config.n_envs;
        if cap < config.stack + config.n_step + 2 {
            return bad(format!(
                "a buffer of {} transitions over {} envs is too small for stacks of {} and {}-step returns",
                config.capacity, config.n_envs, config.stack, config.n_step
            ));
        }
        if let Some(alpha) = config.priority_alpha {
            if !(0.0..=1.0).contains(&alpha) {
                return bad(format!("priority alpha = {alpha} must be in [0, 1]"));
            }
        }
        let stream = Stream {
            frames: vec![T::default(); cap * config.frame_len],
            actions: vec![0; cap],
            rewards: vec![0.0; cap],
            flags: vec![0; cap],
            written: 0,
        };
        let tree = config.priority_alpha.map(|_| SumTree::new(cap * config.n_envs));
        Ok(ReplayBuffer { cap, streams: vec![stream; config.n_envs], tree, max_priority: 1.0, added: 0, config })
    }

    pub fn config(&self) -> &ReplayConfig {
        &self.config
    }

    /// Transitions ever added, over all envs.
    pub fn added(&self) -> u64 {
        self.added
    }

    /// Frames held now, less each stream's newest: the transitions held (including the few not sampleable yet)
    /// and the final frames of ended episodes.
    pub fn len(&self) -> usize {
        self.streams.iter().map(|s| (s.written as usize).min(self.cap).saturating_sub(1)).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of the storage (frames and slot data), allocated up front.
    pub fn bytes(&self) -> usize {
        let per_slot = self.config.frame_len * std::mem::size_of::<T>() + 4 + 4 + 1;
        self.cap * self.config.n_envs * per_slot
    }

    /// Starts every stream with the first observations of a reset: `[n_envs, stack * frame_len]`.
    pub fn start(&mut self, obs: &[T]) {
        let obs_len = self.obs_len();
        for env in 0..self.config.n_envs {
            let first = &obs[env * obs_len..(env + 1) * obs_len];
            self.push_frame(env, newest_frame(first, self.config.frame_len), EPISODE_START);
        }
    }

    /// Adds one step of every env (see [`Step`]).
    pub fn add(&mut self, step: &Step<'_, T>) {
        assert_eq!(step.actions.len(), self.config.n_envs, "a step of every env");
        self.add_envs(0, step);
    }

    /// Adds one step of the envs `first_env..first_env + step.actions.len()` (one actor's share of the envs; the
    /// step's rows are those envs in order). Each env's stream only sees its own steps, so writers of disjoint
    /// env ranges may interleave their steps in any order.
    pub fn add_envs(&mut self, first_env: usize, step: &Step<'_, T>) {
        let obs_len = self.obs_len();
        let frame_len = self.config.frame_len;
        assert!(first_env + step.actions.len() <= self.config.n_envs, "envs out of range");
        for row in 0..step.actions.len() {
            let env = first_env + row;
            let (terminated, truncated) = (step.terminated[row], step.truncated[row]);
            let stream = &mut self.streams[env];
            let slot = ((stream.written - 1) % self.cap as u64) as usize;
            stream.actions[slot] = step.actions[row] as i32;
            stream.rewards[slot] = step.rewards[row];
            stream.flags[slot] |= TRANSITION
                | if terminated { TERMINATED } else { 0 }
                | if truncated && !terminated { TRUNCATED } else { 0 };
            let row = row * obs_len..(row + 1) * obs_len;
            if terminated || truncated {
                self.push_frame(env, newest_frame(&step.final_obs[row.clone()], frame_len), 0);
                self.push_frame(env, newest_frame(&step.obs[row], frame_len), EPISODE_START);
            } else {
                self.push_frame(env, newest_frame(&step.obs[row], frame_len), 0);
            }
            self.added += 1;
        }
    }

    /// Elements of one observation.
    pub fn obs_len(&self) -> usize {
        self.config.stack * self.config.frame_len
    }

    /// Writes a frame at the head of `env`'s stream and updates which transitions can be sampled.
    fn push_frame(&mut self, env: usize, frame: &[T], flags: u8) {
        let (cap, frame_len) = (self.cap, self.config.frame_len);
        let stream = &mut self.streams[env];
        let pos = stream.written;
        let slot = (pos % cap as u64) as usize;
        stream.frames[slot * frame_len..(slot + 1) * frame_len].copy_from_slice(frame);
        stream.flags[slot] = flags;
        stream.written += 1;
        if self.tree.is_some() {
            // The overwritten frame took a transition's stack with it: the stack - 1 oldest slots are not sampleable.
            if pos >= cap as u64 {
                let oldest = pos + 1 - cap as u64;
                for p in oldest..oldest + self.config.stack as u64 - 1 {
                    self.set_leaf(env, p, 0.0);
                }
            }
            self.set_leaf(env, pos, 0.0);
            // A transition whose n-step window is now complete (or ended) becomes sampleable at the max priority.
            let n = self.config.n_step as u64;
            for p in pos.saturating_sub(n)..pos {
                if self.sampleable(env, p) && self.leaf(env, p) == 0.0 {
                    let value = self.max_priority.powf(self.config.priority_alpha.unwrap_or(1.0));
                    self.set_leaf(env, p, value);
                }
            }
        }
    }

    fn leaf_index(&self, env: usize, pos: u64) -> usize {
        env * self.cap + (pos % self.cap as u64) as usize
    }

    fn leaf(&self, env: usize, pos: u64) -> f64 {
        self.tree.as_ref().map_or(0.0, |t| t.get(self.leaf_index(env, pos)))
    }

    fn set_leaf(&mut self, env: usize, pos: u64, value: f64) {
        let index = self.leaf_index(env, pos);
        if let Some(tree) = &mut self.tree {
            tree.set(index, value);
        }
    }

    /// Whether the transition at position `pos` of `env`'s stream can be rebuilt and has its n-step window.
    fn sampleable(&self, env: usize, pos: u64) -> bool {
        let stream = &self.streams[env];
        let held = stream.written.min(self.cap as u64);
        let oldest = stream.written - held;
        // Once the ring has wrapped, the stack of the stack - 1 oldest slots may reach overwritten frames.
        let history_lost = oldest > 0 && pos < oldest + self.config.stack as u64 - 1;
        if pos < oldest || history_lost || pos + 1 >= stream.written {
            return false;
        }
        let flags = |p: u64| stream.flags[(p % self.cap as u64) as usize];
        if flags(pos) & TRANSITION == 0 {
            return false;
        }
        // The n-step window: n transitions, or fewer ending the episode, all written, plus the frame after them.
        for j in 0..self.config.n_step as u64 {
            let p = pos + j;
            if p + 1 >= stream.written {
                return false;
            }
            if flags(p) & (TERMINATED | TRUNCATED) != 0 {
                return true;
            }
        }
        pos + (self.config.n_step as u64) < stream.written
    }

    /// Transitions that can be sampled now.
    pub fn sampleable_len(&self) -> usize {
        (0..self.config.n_envs)
            .map(|env| {
                let s = &self.streams[env];
                let oldest = s.written - s.written.min(self.cap as u64);
                (oldest..s.written).filter(|&p| self.sampleable(env, p)).count()
            })
            .sum()
    }

    /// Writes the stack ending at `pos` of `env`'s stream into `out` (`[stack * frame_len]`), oldest frame first.
    fn write_stack(&self, env: usize, pos: u64, out: &mut [T]) {
        let (k, frame_len, cap) = (self.config.stack, self.config.frame_len, self.cap as u64);
        let stream = &self.streams[env];
        let frame = |p: u64| {
            let slot = (p % cap) as usize;
            &stream.frames[slot * frame_len..(slot + 1) * frame_len]
        };
        // Walk back from the newest frame; once past the episode's first frame, pad.
        let mut source = Some(pos);
        let mut first = pos;
        for i in (0..k).rev() {
            let dst = &mut out[i * frame_len..(i + 1) * frame_len];
            match source {
                Some(p) => {
                    dst.copy_from_slice(frame(p));
                    first = p;
                    let start = stream.flags[(p % cap) as usize] & EPISODE_START != 0;
                    source = if start || p == 0 { None } else { Some(p - 1) };
                }
                None => match self.config.padding {
                    Padding::Reset => dst.copy_from_slice(frame(first)),
                    Padding::Zeros => dst.fill(T::default()),
                },
            }
        }
    }

    /// Samples `batch_size` transitions into `batch`: uniformly, or (prioritized) proportionally to
    /// `priority^alpha` with one draw per equal segment of the total (Schaul et al.), with importance weights for
    /// `beta`. Fails while nothing can be sampled.
    pub fn sample(&self, batch_size: usize, beta: f64, rng: &mut impl Rng, batch: &mut Batch<T>) -> Result<()> {
        let obs_len = self.obs_len();
        batch.obs.resize(batch_size * obs_len, T::default());
        batch.next_obs.resize(batch_size * obs_len, T::default());
        for v in [&mut batch.rewards, &mut batch.discounts, &mut batch.weights] {
            v.resize(batch_size, 0.0);
        }
        batch.actions.resize(batch_size, 0);
        batch.indices.resize(batch_size, 0);
        match &self.tree {
            Some(tree) => {
                let total = tree.total();
                if total <= 0.0 {
                    return Err(ReplayError::Empty);
                }
                // w_i = (N P(i))^-beta / max_j w_j = (P(i) / P_min)^-beta: N cancels, and the max weight belongs to
                // the least likely transition held (as OpenAI Baselines normalizes).
                let min_leaf = tree.min_nonzero();
                let segment = total / batch_size as f64;
                for b in 0..batch_size {
                    let target = segment * (b as f64 + rng.random::<f64>());
                    let index = tree.find(target.min(total));
                    batch.indices[b] = index;
                    batch.weights[b] = (tree.get(index) / min_leaf).powf(-beta) as f32;
                }
            }
            None => {
                // Rejection sampling: nearly every held slot is sampleable, so a draw takes about one try. Only
                // after many misses is the (linear) count taken, to tell "nothing sampleable yet" from bad luck.
                for b in 0..batch_size {
                    let mut misses = 0u32;
                    batch.indices[b] = loop {
                        let env = rng.random_range(0..self.config.n_envs);
                        let s = &self.streams[env];
                        let held = s.written.min(self.cap as u64);
                        if held > 0 {
                            let pos = s.written - held + rng.random_range(0..held);
                            if self.sampleable(env, pos) {
                                break self.leaf_index(env, pos);
                            }
                        }
                        misses += 1;
                        if misses == 10_000 && self.sampleable_len() == 0 {
                            return Err(ReplayError::Empty);
                        }
                    };
                    batch.weights[b] = 1.0;
                }
            }
        }
        for b in 0..batch_size {
            let (env, pos) = self.position(batch.indices[b]);
            let (reward, discount, next) = self.n_step_return(env, pos);
            self.write_stack(env, pos, &mut batch.obs[b * obs_len..(b + 1) * obs_len]);
            self.write_stack(env, next, &mut batch.next_obs[b * obs_len..(b + 1) * obs_len]);
            batch.actions[b] = self.streams[env].actions[(pos % self.cap as u64) as usize] as i64;
            batch.rewards[b] = reward as f32;
            batch.discounts[b] = discount as f32;
        }
        Ok(())
    }

    /// Which env's stream a sampled index (`Batch::indices`) is in, and its position there: the count of frames
    /// that env wrote before it (one per step, one more per ended episode).
    pub fn position(&self, index: usize) -> (usize, u64) {
        let (env, slot) = (index / self.cap, (index % self.cap) as u64);
        let written = self.streams[env].written;
        // The newest position < written with this slot.
        let newest = written - 1;
        let pos = newest - ((newest % self.cap as u64 + self.cap as u64 - slot) % self.cap as u64);
        (env, pos)
    }

    /// `(sum_j gamma^j r_{pos+j}, bootstrap discount, position of the bootstrap observation)`.
    fn n_step_return(&self, env: usize, pos: u64) -> (f64, f64, u64) {
        let stream = &self.streams[env];
        let gamma = self.config.gamma;
        let (mut total, mut scale) = (0.0, 1.0);
        for j in 0..self.config.n_step as u64 {
            let slot = ((pos + j) % self.cap as u64) as usize;
            total += scale * stream.rewards[slot] as f64;
            scale *= gamma;
            let flags = stream.flags[slot];
            if flags & TERMINATED != 0 {
                return (total, 0.0, pos + j + 1);
            }
            if flags & TRUNCATED != 0 {
                return (total, scale, pos + j + 1);
            }
        }
        (total, scale, pos + self.config.n_step as u64)
    }

    /// Prioritized replay: the new priorities (e.g. `|TD error| + eps`) of the transitions `indices` names.
    /// Transitions overwritten since they were sampled are left alone.
    pub fn update_priorities(&mut self, indices: &[usize], priorities: &[f64]) {
        let Some(alpha) = self.config.priority_alpha else { return };
        for (&index, &priority) in indices.iter().zip(priorities) {
            let (env, pos) = self.position(index);
            if self.sampleable(env, pos) {
                self.max_priority = self.max_priority.max(priority);
                self.set_leaf(env, pos, priority.max(1e-12).powf(alpha));
            }
        }
    }
}

/// The newest frame of an observation stack `[stack * frame_len]`.
fn newest_frame<T>(obs: &[T], frame_len: usize) -> &[T] {
    &obs[obs.len() - frame_len..]
}
