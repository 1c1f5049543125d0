//! The shared form of the replay buffer: actor threads append while the learner samples.
//!
//! Each actor holds a [`ReplayWriter`] for its own range of envs and sends its steps, copied into owned buffers,
//! over a bounded crossbeam channel; the learner owns the [`ReplayBuffer`] inside [`SharedReplay`] and applies
//! the steps that have arrived before it samples. Why a channel rather than a lock around the buffer or
//! per-writer segments inside it:
//! - the hot paths never contend: an actor's send is a copy into a slot of the channel (no lock on the buffer,
//!   no waiting on the learner's minibatch gathers), and the learner's sampling reads a buffer no other thread
//!   touches, so sampling needs no synchronization at all;
//! - steps apply in one place, in each env's order, so the buffer's layout (one stream per env, priorities in
//!   one sum tree) stays exactly the single-threaded one, and a buffer filled by several writers equals the one
//!   the same steps build sequentially (the tests check it);
//! - the bound gives back-pressure: actors that run too far ahead of the learner wait instead of filling memory;
//! - nothing is lost when actors stop: steps already sent stay in the channel after every writer has dropped
//!   and are applied by the next [`SharedReplay::apply_pending`] or [`SharedReplay::apply_next`] (steps still in
//!   the channel when the `SharedReplay` itself is dropped are discarded: apply them first).
//!
//! The copy costs one observation stack per env step (Atari: 28 KB), far below a gradient step's work.
//!
//! Each step carries a payload `M` of the actor's choosing (DQN: the episodes that ended), returned to the learner
//! in the order the steps are applied.

use crate::error::{ReplayError, Result};
use crate::persist::Element;
use crate::replay::{ReplayBuffer, Step};
use crossbeam_channel::{Receiver, Sender};
use std::ops::Range;

/// One step of a writer's envs, owned so it can cross threads (the fields of [`Step`]).
#[derive(Debug, Clone)]
struct OwnedStep<T, M> {
    first_env: usize,
    actions: Vec<i64>,
    rewards: Vec<f32>,
    terminated: Vec<bool>,
    truncated: Vec<bool>,
    obs: Vec<T>,
    final_obs: Vec<T>,
    payload: M,
}

/// An actor's handle: appends steps of the envs `envs` (see [`SharedReplay::writer`]). Cheap to move to a thread.
pub struct ReplayWriter<T, M = ()> {
    envs: Range<usize>,
    obs_len: usize,
    sender: Sender<OwnedStep<T, M>>,
}

impl<T: Element, M> ReplayWriter<T, M> {
    /// The envs this writer appends for.
    pub fn envs(&self) -> Range<usize> {
        self.envs.clone()
    }

    /// Sends one step of this writer's envs (rows in env order); waits while the channel is full. Fails once the
    /// learner's side is gone.
    pub fn add(&self, step: &Step<'_, T>, payload: M) -> Result<()> {
        let n = self.envs.len();
        let rows_ok = [step.actions.len(), step.rewards.len(), step.terminated.len(), step.truncated.len()]
            .iter()
            .all(|&len| len == n);
        if !rows_ok || step.obs.len() != n * self.obs_len || step.final_obs.len() != n * self.obs_len {
            return Err(ReplayError::Config(format!("a step of envs {:?} must have {n} rows", self.envs)));
        }
        let owned = OwnedStep {
            first_env: self.envs.start,
            actions: step.actions.to_vec(),
            rewards: step.rewards.to_vec(),
            terminated: step.terminated.to_vec(),
            truncated: step.truncated.to_vec(),
            obs: step.obs.to_vec(),
            // Final observations are only read where an episode ended; skip the copy otherwise.
            final_obs: if step.terminated.iter().chain(step.truncated).any(|&d| d) {
                step.final_obs.to_vec()
            } else {
                Vec::new()
            },
            payload,
        };
        self.sender.send(owned).map_err(|_| ReplayError::Config("the replay buffer's owner has stopped".into()))
    }
}

/// The learner's side: the buffer (borrowed for as long as it is shared) and the receiving end of every writer's
/// steps.
pub struct SharedReplay<'a, T, M = ()> {
    pub buffer: &'a mut ReplayBuffer<T>,
    sender: Option<Sender<OwnedStep<T, M>>>,
    receiver: Receiver<OwnedStep<T, M>>,
    /// Env ranges handed out, so two writers never share an env.
    taken: Vec<Range<usize>>,
}

impl<'a, T: Element, M> SharedReplay<'a, T, M> {
    /// Shares `buffer`; at most `in_flight` steps wait in the channel before writers block.
    pub fn new(buffer: &'a mut ReplayBuffer<T>, in_flight: usize) -> Self {
        let (sender, receiver) = crossbeam_channel::bounded(in_flight.max(1));
        SharedReplay { buffer, sender: Some(sender), receiver, taken: Vec::new() }
    }

    /// A writer for the envs `envs`; each env belongs to at most one writer.
    pub fn writer(&mut self, envs: Range<usize>) -> Result<ReplayWriter<T, M>> {
        let n_envs = self.buffer.config().n_envs;
        if envs.is_empty() || envs.end > n_envs || self.taken.iter().any(|t| t.start < envs.end && envs.start < t.end) {
            return Err(ReplayError::Config(format!("envs {envs:?} are out of 0..{n_envs} or already written")));
        }
        self.taken.push(envs.clone());
        let sender = self.sender.clone().ok_or_else(|| ReplayError::Config("writers are closed".into()))?;
        Ok(ReplayWriter { envs, obs_len: self.buffer.obs_len(), sender })
    }

    /// No more writers: once the existing ones drop and their steps are applied, [`SharedReplay::apply_next`]
    /// returns `None` instead of waiting.
    pub fn close_writers(&mut self) {
        self.sender = None;
    }

    /// Applies every step that has arrived, without waiting; returns their payloads in order.
    pub fn apply_pending(&mut self) -> Vec<M> {
        let steps: Vec<_> = self.receiver.try_iter().collect();
        steps.into_iter().map(|step| self.apply(step)).collect()
    }

    /// Waits for the next step, applies it and returns its payload; `None` once every writer has dropped (after
    /// [`SharedReplay::close_writers`]) and all their steps are applied.
    pub fn apply_next(&mut self) -> Option<M> {
        self.receiver.recv().ok().map(|step| self.apply(step))
    }

    fn apply(&mut self, step: OwnedStep<T, M>) -> M {
        let final_obs = if step.final_obs.is_empty() { &step.obs } else { &step.final_obs };
        self.buffer.add_envs(
            step.first_env,
            &Step {
                actions: &step.actions,
                rewards: &step.rewards,
                terminated: &step.terminated,
                truncated: &step.truncated,
                obs: &step.obs,
                final_obs,
            },
        );
        step.payload
    }
}
