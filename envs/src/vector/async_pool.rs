//! EnvPool's asynchronous mode: `send` actions to some envs, `recv` the first `batch_size` envs that finish.
//!
//! With `batch_size < num_envs` the agent computes on one batch while the workers step the others, and a slow env
//! (a reset, a long game frame) no longer holds back a whole step. Layout, as in [`ThreadedVecEnv`]: each worker
//! thread owns a contiguous block of envs, built in that thread, and a queue for their jobs; a worker whose queue is
//! empty takes jobs from the others'. The caller only sends and receives.
//!
//! Results go into a ring of preallocated batches. A worker steps env i into its own scratch row, then claims the
//! next slot of the ring with one atomic add and copies the row there (so batches fill in finishing order);
//! `recv` returns the batch once its `batch_size` rows are written. The ring has `2 + (num_envs - 1) / batch_size` batches, so no slot of the batch the caller holds can be
//! claimed again before its next `recv` (at most `num_envs` envs are in flight). No step allocates.
//!
//! Per env, trajectories are deterministic (env i is seeded `seed + i` and sees only its own actions); which envs
//! share a batch depends on timing.
//!
//! [`ThreadedVecEnv`]: super::ThreadedVecEnv

use super::threaded::{block_ranges, BatchPtrs, Failures, Waiter};
use super::{reset_row, step_row, Actions, Batch};
use crate::error::{EnvError, Result};
use crate::{Action, Env, Space};
use crossbeam_queue::ArrayQueue;
use crossbeam_utils::sync::Unparker;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Barrier};
use std::thread::JoinHandle;

/// What a worker does to one env.
#[derive(Clone, Copy)]
enum Job {
    /// Reset env `env`, seeded `seed + env` when `Some(seed)`.
    Reset { env: usize, seed: Option<u64> },
    /// Step env `env` with its action in the action buffers.
    Step { env: usize },
}

/// A worker's envs, handed to the caller at start-up (raw pointers are not `Send` by themselves).
struct EnvsPtr<E>(*mut E);
// SAFETY: the envs behind it are `Send`; see `Shared` for how access is made exclusive.
unsafe impl<E: Send> Send for EnvsPtr<E> {}

/// State shared by the caller and the workers.
struct Shared<E: Env> {
    /// `envs[i]`: env i, owned by the worker that built it. A job for env i is popped by exactly one worker, and the
    /// caller queues at most one job per env, so one thread at a time touches it; the queue hand-offs (push
    /// Release, pop Acquire) and `filled` (AcqRel, Acquire in `recv`) order successive steppers.
    envs: Vec<*mut E>,
    /// One pointer set per batch of the ring.
    ring: Vec<BatchPtrs<E::Obs>>,
    /// Rows written into each batch of the ring; `recv` waits for `batch_size`.
    filled: Vec<AtomicUsize>,
    /// The next free slot of the ring (slot s is row `s % batch_size` of batch `(s / batch_size) % ring.len()`).
    next_slot: AtomicUsize,
    batch_size: usize,
    /// `[num_envs, per_env]` actions. Env i's row is written by the caller before its job is queued and read by
    /// its worker after the job is popped (the queue orders the two); never while env i is in flight.
    discrete: *mut i64,
    continuous: *mut f32,
    per_env: usize,
    obs_len: usize,
    action_kind: ActionKind,
    /// One job queue per worker, filled with the jobs of its own envs; an idle worker takes jobs from the others'
    /// queues too (EnvPool's one shared queue balances load the same way, without the locality).
    queues: Vec<ArrayQueue<Job>>,
    caller: Unparker,
    shutdown: AtomicBool,
    /// Every worker waits here after its loop, before dropping its envs.
    exited: Barrier,
    failures: Failures,
}

// SAFETY: ring rows are claimed exactly once per slot through `next_slot` (see the module docs for why a slot is
// never reclaimed while the caller reads it), and action rows are handed over through the job queues.
unsafe impl<E: Env + Send> Sync for Shared<E> where E::Obs: Send {}
unsafe impl<E: Env + Send> Send for Shared<E> where E::Obs: Send {}

impl<E: Env> Shared<E> {
    /// The next job for `worker`: its own queue first, then the others'.
    fn next_job(&self, worker: usize) -> Option<Job> {
        let n = self.queues.len();
        (0..n).find_map(|k| self.queues[(worker + k) % n].pop())
    }

    fn has_work(&self) -> bool {
        self.queues.iter().any(|q| !q.is_empty())
    }
}

#[derive(Clone, Copy, PartialEq)]
enum ActionKind {
    Discrete,
    MultiDiscrete,
    Continuous,
}

/// EnvPool-style asynchronous vector env; see the module docs.
pub struct AsyncVecEnv<E: Env> {
    ring: Vec<Batch<E::Obs>>,
    /// Owned action buffers behind `Shared::discrete` / `Shared::continuous`.
    _discrete: Vec<i64>,
    _continuous: Vec<f32>,
    shared: Arc<Shared<E>>,
    workers: Vec<(JoinHandle<()>, Unparker)>,
    /// `owner[i]`: the worker that built env i and whose queue takes its jobs.
    owner: Vec<usize>,
    /// Env i has been sent a reset or a step and not yet returned by `recv`.
    in_flight: Vec<bool>,
    in_flight_count: usize,
    /// The ring index of the batch the last `recv` returned, for `send_received`.
    last: Option<usize>,
    /// `[batch_size]` scratch for `send_received`.
    scratch_ids: Vec<usize>,
    caller: Waiter,
    /// The batch of the ring the next `recv` returns.
    next: usize,
    observation_space: Space,
    action_space: Space,
}

impl<E: Env + Send + 'static> AsyncVecEnv<E> {
    /// `num_envs` envs made by `make_env(i)` on `num_threads` worker threads; `recv` returns `batch_size` envs.
    pub fn new(
        num_envs: usize,
        num_threads: usize,
        batch_size: usize,
        make_env: impl Fn(usize) -> Result<E> + Send + Sync + 'static,
    ) -> Result<Self> {
        if num_envs == 0 || num_threads == 0 || batch_size == 0 || batch_size > num_envs {
            return Err(EnvError::InvalidConfig(format!(
                "need num_envs >= 1, num_threads >= 1 and 1 <= batch_size <= num_envs, got {num_envs}, \
                 {num_threads} and {batch_size}"
            )));
        }
        let ranges = block_ranges(num_envs, num_threads.min(num_envs));
        // Workers build their envs, report the spaces, then wait for the shared state, which is sized from them.
        let make_env = Arc::new(make_env);
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(usize, Space, Space, EnvsPtr<E>)>>();
        let mut workers = Vec::new();
        let mut start_txs = Vec::new();
        let mut owner = vec![0; num_envs];
        for (w, range) in ranges.iter().enumerate() {
            owner[range.clone()].fill(w);
            let (make_env, ready_tx, range) = (make_env.clone(), ready_tx.clone(), range.clone());
            let (start_tx, start_rx) = mpsc::channel::<Arc<Shared<E>>>();
            start_txs.push(start_tx);
            let mut waiter = Waiter::new();
            let unparker = waiter.unparker();
            let spawned = std::thread::Builder::new().name(format!("rlx-async-{w}")).spawn(move || {
                let mut envs = match range.clone().map(|i| make_env(i)).collect::<Result<Vec<E>>>() {
                    Ok(envs) => envs,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let spaces = (envs[0].observation_space().clone(), envs[0].action_space().clone());
                if envs.iter().any(|e| e.observation_space() != &spaces.0 || e.action_space() != &spaces.1) {
                    let message = "all envs of a vector env must have the same spaces";
                    let _ = ready_tx.send(Err(EnvError::InvalidConfig(message.into())));
                    return;
                }
                let _ = ready_tx.send(Ok((w, spaces.0, spaces.1, EnvsPtr(envs.as_mut_ptr()))));
                drop(ready_tx);
                // The caller drops the sender instead when start-up failed elsewhere.
                if let Ok(shared) = start_rx.recv() {
                    worker_loop(w, &shared, &mut waiter);
                    // Another worker may still be finishing a job it took from this worker's queue: the envs are
                    // dropped only once every worker has left its loop.
                    shared.exited.wait();
                }
                drop(envs);
            });
            let handle =
                spawned.map_err(|e| EnvError::InvalidConfig(format!("cannot spawn a vector env thread: {e}")))?;
            workers.push((handle, unparker));
        }
        drop(ready_tx);
        let mut spaces: Option<(Space, Space)> = None;
        let mut env_ptrs = vec![std::ptr::null_mut(); num_envs];
        for _ in 0..ranges.len() {
            // On an error the start senders drop with this frame and the workers exit; they are not joined.
            let (w, observation, action, base) = ready_rx
                .recv()
                .map_err(|_| EnvError::InvalidConfig("a vector env thread exited during start-up".into()))??;
            for (k, i) in ranges[w].clone().enumerate() {
                // SAFETY: the worker's vector holds ranges[w].len() envs and is not resized.
                env_ptrs[i] = unsafe { base.0.add(k) };
            }
            let reported = (observation, action);
            match &spaces {
                Some(first) if first != &reported => {
                    return Err(EnvError::InvalidConfig("all envs of a vector env must have the same spaces".into()))
                }
                _ => spaces = Some(reported),
            }
        }
        let (observation_space, action_space) = spaces.expect("at least one worker");
        let (per_env, action_kind) = match &action_space {
            Space::Discrete { .. } => (1, ActionKind::Discrete),
            Space::MultiDiscrete { .. } => (action_space.flat_dim(), ActionKind::MultiDiscrete),
            Space::Box { .. } => (action_space.flat_dim(), ActionKind::Continuous),
        };
        let obs_len = observation_space.flat_dim();
        let ring_len = 2 + (num_envs - 1) / batch_size;
        let mut ring: Vec<Batch<E::Obs>> = (0..ring_len).map(|_| Batch::new(batch_size, obs_len)).collect();
        let continuous_actions = action_kind == ActionKind::Continuous;
        let mut discrete = vec![0i64; if continuous_actions { 0 } else { num_envs * per_env }];
        let mut continuous = vec![0f32; if continuous_actions { num_envs * per_env } else { 0 }];
        let caller = Waiter::new();
        let shared = Arc::new(Shared {
            envs: env_ptrs,
            ring: ring.iter_mut().map(BatchPtrs::new).collect(),
            filled: (0..ring_len).map(|_| AtomicUsize::new(0)).collect(),
            next_slot: AtomicUsize::new(0),
            batch_size,
            discrete: discrete.as_mut_ptr(),
            continuous: continuous.as_mut_ptr(),
            per_env,
            obs_len,
            action_kind,
            queues: ranges.iter().map(|r| ArrayQueue::new(r.len())).collect(),
            caller: caller.unparker(),
            shutdown: AtomicBool::new(false),
            exited: Barrier::new(ranges.len()),
            failures: Failures::default(),
        });
        for start in start_txs {
            let _ = start.send(shared.clone());
        }
        Ok(AsyncVecEnv {
            ring,
            _discrete: discrete,
            _continuous: continuous,
            shared,
            workers,
            owner,
            in_flight: vec![false; num_envs],
            in_flight_count: 0,
            last: None,
            scratch_ids: Vec::with_capacity(batch_size),
            caller,
            next: 0,
            observation_space,
            action_space,
        })
    }

    pub fn num_envs(&self) -> usize {
        self.owner.len()
    }
    pub fn batch_size(&self) -> usize {
        self.shared.batch_size
    }
    pub fn single_observation_space(&self) -> &Space {
        &self.observation_space
    }
    pub fn single_action_space(&self) -> &Space {
        &self.action_space
    }

    /// Resets every env (env i seeded `seed + i` when `Some(seed)`); `recv` then returns the first observations.
    /// No env may be in flight.
    pub fn async_reset(&mut self, seed: Option<u64>) -> Result<()> {
        self.check_usable()?;
        if self.in_flight_count > 0 {
            return Err(EnvError::InvalidConfig(format!(
                "async_reset with {} envs still in flight: recv them first",
                self.in_flight_count
            )));
        }
        self.last = None;
        for env in 0..self.num_envs() {
            self.submit(Job::Reset { env, seed });
        }
        self.wake_workers();
        Ok(())
    }

    /// Sends `actions` (row-major `[env_ids.len(), per_env]`, as `VecEnv::step` takes them) to the envs `env_ids`,
    /// which must have been returned by `recv` since they were last sent. Validates everything before any env moves.
    pub fn send(&mut self, actions: Actions<'_>, env_ids: &[usize]) -> Result<()> {
        self.check_usable()?;
        self.validate_send(actions, env_ids)?;
        for (j, &env) in env_ids.iter().enumerate() {
            self.submit_step(env, actions.get(j, self.shared.per_env));
        }
        self.wake_workers();
        Ok(())
    }

    /// Sends `actions` to the envs of the batch the last `recv` returned, row for row (EnvPool's usual loop:
    /// `recv`, act on the batch, `send_received`).
    pub fn send_received(&mut self, actions: Actions<'_>) -> Result<()> {
        self.check_usable()?;
        let last = self.last.ok_or_else(|| EnvError::InvalidConfig("send_received before any recv".into()))?;
        let mut ids = std::mem::take(&mut self.scratch_ids); // preallocated: no allocation per step
        ids.clear();
        ids.extend_from_slice(&self.ring[last].env_ids);
        let outcome = self.send(actions, &ids);
        if outcome.is_ok() {
            self.last = None; // those envs are in flight again
        }
        self.scratch_ids = ids;
        outcome
    }

    fn validate_send(&self, actions: Actions<'_>, env_ids: &[usize]) -> Result<()> {
        let per_env = self.shared.per_env;
        if actions.len() != env_ids.len() * per_env {
            return Err(EnvError::BatchSize {
                expected: env_ids.len() * per_env,
                num_envs: env_ids.len(),
                per_env,
                got: actions.len(),
            });
        }
        for (j, &env) in env_ids.iter().enumerate() {
            if env >= self.num_envs() {
                return Err(EnvError::InvalidConfig(format!("env id {env} is out of range 0..{}", self.num_envs())));
            }
            if self.in_flight[env] || env_ids[..j].contains(&env) {
                return Err(EnvError::InvalidConfig(format!("env {env} is already in flight: recv it first")));
            }
            self.action_space.validate(actions.get(j, per_env))?;
        }
        Ok(())
    }

    /// Writes env's action row and queues its step.
    fn submit_step(&mut self, env: usize, action: Action<'_>) {
        let per_env = self.shared.per_env;
        // SAFETY: env is not in flight, so its worker does not read its row now; the queue push publishes it.
        unsafe {
            match action {
                Action::Discrete(a) => *self.shared.discrete.add(env) = a,
                Action::MultiDiscrete(a) => {
                    std::ptr::copy_nonoverlapping(a.as_ptr(), self.shared.discrete.add(env * per_env), per_env)
                }
                Action::Continuous(a) => {
                    std::ptr::copy_nonoverlapping(a.as_ptr(), self.shared.continuous.add(env * per_env), per_env)
                }
            }
        }
        self.submit(Job::Step { env });
    }

    /// Waits for the next `batch_size` envs to finish and returns them; rows are in finishing order and
    /// `Batch::env_ids` says which env each row is. The batch stays valid until the next `recv`.
    pub fn recv(&mut self) -> Result<&Batch<E::Obs>> {
        self.check_usable()?;
        let size = self.shared.batch_size;
        if self.in_flight_count < size {
            return Err(EnvError::InvalidConfig(format!(
                "recv needs {size} envs in flight, {} are: send actions (or async_reset) first",
                self.in_flight_count
            )));
        }
        let filled = &self.shared.filled[self.next];
        self.caller.wait_until(|| filled.load(Ordering::Acquire) == size);
        filled.store(0, Ordering::Relaxed);
        let received = self.next;
        self.next = (self.next + 1) % self.ring.len();
        self.last = Some(received);
        let batch = &self.ring[received];
        for &env in &batch.env_ids {
            self.in_flight[env] = false;
        }
        self.in_flight_count -= size;
        self.shared.failures.take()?;
        Ok(batch)
    }

    fn check_usable(&self) -> Result<()> {
        self.shared.failures.check_usable()
    }

    fn submit(&mut self, job: Job) {
        let (Job::Reset { env, .. } | Job::Step { env }) = job;
        self.in_flight[env] = true;
        self.in_flight_count += 1;
        // Cannot fail: a worker's queue holds as many jobs as it has envs, and each env has at most one job.
        let _ = self.shared.queues[self.owner[env]].push(job);
    }

    /// Wakes every worker after a round of `submit`s: the owners, and idle workers that can take jobs over.
    fn wake_workers(&self) {
        for (_, unparker) in &self.workers {
            unparker.unpark();
        }
    }
}

fn worker_loop<E: Env>(worker: usize, shared: &Shared<E>, waiter: &mut Waiter) {
    let per_env = shared.per_env;
    let mut action_row = vec![0f32; if shared.action_kind == ActionKind::Continuous { per_env } else { 0 }];
    let mut discrete_row = vec![0i64; if shared.action_kind == ActionKind::MultiDiscrete { per_env } else { 0 }];
    let mut scratch: Batch<E::Obs> = Batch::new(1, shared.obs_len);
    loop {
        waiter.wait_until(|| shared.has_work() || shared.shutdown.load(Ordering::Acquire));
        let Some(job) = shared.next_job(worker) else {
            if shared.shutdown.load(Ordering::Acquire) {
                return;
            }
            continue;
        };
        let (Job::Reset { env, .. } | Job::Step { env }) = job;
        // The env steps into this worker's scratch row; the ring slot is claimed once the step is done, so
        // batches fill in finishing order (a slow env does not hold back envs that started after it).
        let mut rows = scratch.rows_mut(0..1);
        // SAFETY: this thread popped env's only job (see `Shared::envs`).
        let env_ptr: *mut E = shared.envs[env];
        let local = unsafe { &mut *env_ptr };
        let outcome = if shared.failures.is_poisoned() {
            Ok(()) // an earlier panic left the pool unusable: only complete the slot so `recv` wakes up
        } else {
            shared.failures.catch(worker, || match job {
                Job::Reset { seed, .. } => {
                    reset_row(local, env, seed, &mut rows, 0);
                    Ok(())
                }
                Job::Step { .. } => {
                    // SAFETY: env is in flight, so the caller does not write its action row (module docs).
                    let action = unsafe {
                        match shared.action_kind {
                            ActionKind::Discrete => Action::Discrete(*shared.discrete.add(env)),
                            ActionKind::MultiDiscrete => {
                                let src = shared.discrete.add(env * per_env);
                                std::ptr::copy_nonoverlapping(src, discrete_row.as_mut_ptr(), per_env);
                                Action::MultiDiscrete(&discrete_row)
                            }
                            ActionKind::Continuous => {
                                let src = shared.continuous.add(env * per_env);
                                std::ptr::copy_nonoverlapping(src, action_row.as_mut_ptr(), per_env);
                                Action::Continuous(&action_row)
                            }
                        }
                    };
                    step_row(local, action, &mut rows, 0)
                }
            })
        };
        shared.failures.record(outcome);
        let slot = shared.next_slot.fetch_add(1, Ordering::Relaxed);
        let (b, row) = ((slot / shared.batch_size) % shared.ring.len(), slot % shared.batch_size);
        let ptrs = shared.ring[b];
        // SAFETY: this slot was claimed by this thread alone (module docs), so its row is ours until published.
        let out = unsafe { ptrs.rows(row, 1) };
        unsafe { *ptrs.env_ids.add(row) = env };
        out.obs.copy_from_slice(&scratch.obs);
        (out.rewards[0], out.terminated[0], out.truncated[0]) =
            (scratch.rewards[0], scratch.terminated[0], scratch.truncated[0]);
        out.infos[0] = scratch.infos[0];
        if scratch.done(0) {
            out.final_obs.copy_from_slice(&scratch.final_obs);
        }
        if shared.filled[b].fetch_add(1, Ordering::AcqRel) + 1 == shared.batch_size {
            shared.caller.unpark();
        }
    }
}

impl<E: Env> Drop for AsyncVecEnv<E> {
    fn drop(&mut self) {
        // Workers finish the jobs they hold (their rows are in `ring`, still alive here), then exit.
        self.shared.shutdown.store(true, Ordering::Release);
        // Wake them all before joining any: a worker waits at the exit barrier for all the others.
        for (_, unparker) in &self.workers {
            unparker.unpark();
        }
        for (handle, _) in self.workers.drain(..) {
            let _ = handle.join();
        }
    }
}
