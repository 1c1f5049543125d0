//! An EnvPool-style threaded vector env: fixed worker threads, each owning a contiguous block of envs (built in
//! that thread) and writing their rows of one preallocated batch in place. The calling thread steps the first block
//! itself, so `num_threads = 1` is a plain synchronous loop and `num_threads = T` uses T cores with T - 1 extra
//! threads. A thread that is done with its own block takes the unclaimed envs of the others (work stealing, one
//! atomic add per env when steps are slow), so a thread the OS or the hypervisor delays does not hold back the
//! whole step, which a fixed split would; EnvPool gets the same effect from one shared task queue.
//!
//! Hand-off is a generation counter: the caller publishes a command and bumps the generation; waiting threads spin
//! for up to 200 us while their waits are short, park at once when they are long ([`Waiter`]), so an idle pool
//! costs no CPU while the agent computes.

use super::{check_same_spaces, env_snapshots, reset_row, step_row, validate_actions, Actions, Batch, Rows, VecEnv};
use crate::error::{EnvError, Result};
use crate::{Env, Info, Snapshot, Space};
use crossbeam_utils::sync::{Parker, Unparker};
use crossbeam_utils::Backoff;
use std::cell::UnsafeCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Raw base pointers of the batch buffers. The `Batch` is never resized after construction, so they stay valid;
/// each block of envs writes only its own rows, and only while a command is in flight.
pub(super) struct BatchPtrs<T> {
    obs: *mut T,
    rewards: *mut f32,
    terminated: *mut bool,
    truncated: *mut bool,
    final_obs: *mut T,
    infos: *mut Info,
    pub(super) env_ids: *mut usize,
    obs_len: usize,
}

impl<T> Clone for BatchPtrs<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for BatchPtrs<T> {}

impl<T> BatchPtrs<T> {
    pub(super) fn new(batch: &mut Batch<T>) -> Self
    where
        T: Copy + Default,
    {
        BatchPtrs {
            obs: batch.obs.as_mut_ptr(),
            rewards: batch.rewards.as_mut_ptr(),
            terminated: batch.terminated.as_mut_ptr(),
            truncated: batch.truncated.as_mut_ptr(),
            final_obs: batch.final_obs.as_mut_ptr(),
            infos: batch.infos.as_mut_ptr(),
            env_ids: batch.env_ids.as_mut_ptr(),
            obs_len: batch.obs_len(),
        }
    }

    /// # Safety
    /// The rows `first..first + len` must be written by nobody else until the returned views are dropped.
    pub(super) unsafe fn rows<'a>(self, first: usize, len: usize) -> Rows<'a, T> {
        use std::slice::from_raw_parts_mut as view;
        let n = self.obs_len;
        Rows {
            obs: view(self.obs.add(first * n), len * n),
            rewards: view(self.rewards.add(first), len),
            terminated: view(self.terminated.add(first), len),
            truncated: view(self.truncated.add(first), len),
            final_obs: view(self.final_obs.add(first * n), len * n),
            infos: view(self.infos.add(first), len),
        }
    }
}

/// A command from the calling thread to the workers. Actions are borrowed from the caller, who waits for all
/// workers before returning, so the pointer outlives its use.
#[derive(Clone, Copy)]
enum Command {
    Idle,
    Reset(Option<u64>),
    Step {
        kind: u8,
        ptr: *const u8,
        len: usize,
    },
    /// Each env writes its snapshot into `Shared::snapshots[i]`.
    Snapshot,
    /// Each env restores from `Shared::snapshots[i]`.
    Restore,
    Shutdown,
}

impl Command {
    fn step(actions: Actions<'_>) -> Self {
        match actions {
            Actions::Discrete(a) => Command::Step { kind: 0, ptr: a.as_ptr().cast(), len: a.len() },
            Actions::MultiDiscrete(a) => Command::Step { kind: 1, ptr: a.as_ptr().cast(), len: a.len() },
            Actions::Continuous(a) => Command::Step { kind: 2, ptr: a.as_ptr().cast(), len: a.len() },
        }
    }

    /// # Safety
    /// Only while the caller of `step` is waiting (the borrowed slice is alive).
    unsafe fn actions<'a>(kind: u8, ptr: *const u8, len: usize) -> Actions<'a> {
        use std::slice::from_raw_parts as view;
        match kind {
            0 => Actions::Discrete(view(ptr.cast(), len)),
            1 => Actions::MultiDiscrete(view(ptr.cast(), len)),
            _ => Actions::Continuous(view(ptr.cast(), len)),
        }
    }
}

/// One thread's block of envs, published so that the other threads can take its unclaimed envs at the end of a
/// batch (work stealing: a thread that the OS or the hypervisor delays does not hold back the whole step).
struct Block<E> {
    /// The block's envs, owned by the thread that built them; set once before the first command.
    envs: AtomicPtr<E>,
    len: usize,
    /// Index of the block's first env in the batch.
    first: usize,
    /// The next unclaimed env of the current command; the caller resets it before publishing each command.
    cursor: AtomicUsize,
}

/// State shared by the calling thread and the workers.
struct Shared<E: Env> {
    ptrs: BatchPtrs<E::Obs>,
    /// Block 0 is the caller's.
    blocks: Vec<Block<E>>,
    /// Envs claimed per atomic operation: 1 when a step takes microseconds (Atari), so stealing balances finely;
    /// a whole block when it takes nanoseconds (classic control), so claiming costs nothing. Set by the caller from
    /// the previous command's duration.
    claim: AtomicUsize,
    command: UnsafeCell<Command>,
    /// Bumped (Release) after `command` is written; workers run each generation once.
    generation: AtomicU64,
    /// Workers still running the current command; the last one unparks the caller.
    pending: AtomicUsize,
    caller: Unparker,
    per_env: usize,
    failures: Failures,
    /// One slot per env for `Command::Snapshot` / `Command::Restore`.
    snapshots: Mutex<Vec<Snapshot>>,
}

// SAFETY: `command` is written only by the caller while no command is in flight (all workers have finished the
// previous generation and wait for the next), and read by workers only after observing the new generation with
// Acquire ordering. Each env, and its batch row, is claimed by exactly one thread per command through its block's
// cursor; the thread that stepped it last finished before the caller published the next command (`pending`, then
// `generation`), so its writes are visible to the next claimer. Envs move between threads, hence `E: Send`.
unsafe impl<E: Env + Send> Sync for Shared<E> where E::Obs: Send {}
unsafe impl<E: Env + Send> Send for Shared<E> where E::Obs: Send {}

impl<E: Env> Shared<E> {
    /// Runs `f` on every env this thread claims: first from its own block `me`, then from the others'.
    fn for_each_claimed(
        &self,
        me: usize,
        mut f: impl FnMut(&mut E, usize, &mut Rows<'_, E::Obs>) -> Result<()>,
    ) -> Result<()> {
        let claim = self.claim.load(Ordering::Relaxed).max(1);
        let mut first_error = None;
        for k in 0..self.blocks.len() {
            let block = &self.blocks[(me + k) % self.blocks.len()];
            let base = block.envs.load(Ordering::Acquire);
            loop {
                let start = block.cursor.fetch_add(claim, Ordering::Relaxed);
                if start >= block.len {
                    break;
                }
                for j in start..(start + claim).min(block.len) {
                    // SAFETY: the cursor gives env j of this block, and its row, to this thread alone (see `Shared`).
                    let (env, mut rows) = unsafe { (&mut *base.add(j), self.ptrs.rows(block.first + j, 1)) };
                    if let Err(e) = f(env, block.first + j, &mut rows) {
                        first_error.get_or_insert(e);
                    }
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// The envs of block `me`, for the commands each thread runs on its own block only (snapshot, restore).
    ///
    /// # Safety
    /// Only inside such a command, on the thread that owns the block.
    #[allow(clippy::mut_from_ref)]
    unsafe fn own_block(&self, me: usize) -> &mut [E] {
        let block = &self.blocks[me];
        std::slice::from_raw_parts_mut(block.envs.load(Ordering::Acquire), block.len)
    }

    /// What thread `me` does for `command`.
    fn execute(&self, me: usize, command: Command) -> Result<()> {
        let first = self.blocks[me].first;
        match command {
            Command::Reset(seed) => self.for_each_claimed(me, |env, i, rows| {
                reset_row(env, i, seed, rows, 0);
                Ok(())
            }),
            Command::Step { kind, ptr, len } => {
                // SAFETY: the caller is blocked in `run` while this command is in flight.
                let actions = unsafe { Command::actions(kind, ptr, len) };
                self.for_each_claimed(me, |env, i, rows| step_row(env, actions.get(i, self.per_env), rows, 0))
            }
            // SAFETY: snapshots and restores touch only the thread's own block.
            Command::Snapshot => snapshot_block(unsafe { self.own_block(me) }, first, &self.snapshots),
            Command::Restore => restore_block(unsafe { self.own_block(me) }, first, &self.snapshots),
            Command::Idle | Command::Shutdown => Ok(()),
        }
    }
}

/// Threaded vector env; see the module docs. Envs are built inside the thread that owns their block (an emulator
/// is created where it mostly runs), and may be stepped by another thread at the end of a batch.
pub struct ThreadedVecEnv<E: Env> {
    /// The first block, owned by the calling thread (accessed through `Shared::blocks[0]` once the pool runs).
    _envs: Vec<E>,
    batch: Box<Batch<E::Obs>>,
    shared: Arc<Shared<E>>,
    workers: Vec<(JoinHandle<()>, Unparker)>,
    caller: Waiter,
    observation_space: Space,
    action_space: Space,
    num_envs: usize,
}

/// Splits `num_envs` into `blocks` contiguous ranges whose sizes differ by at most one.
pub(super) fn block_ranges(num_envs: usize, blocks: usize) -> Vec<std::ops::Range<usize>> {
    let (base, extra) = (num_envs / blocks, num_envs % blocks);
    let mut start = 0;
    (0..blocks)
        .map(|b| {
            let len = base + usize::from(b < extra);
            start += len;
            start - len..start
        })
        .collect()
}

impl<E: Env + Send + 'static> ThreadedVecEnv<E> {
    /// `num_envs` envs made by `make_env(i)`, stepped by `num_threads` threads (the caller's included).
    pub fn new(
        num_envs: usize,
        num_threads: usize,
        make_env: impl Fn(usize) -> Result<E> + Send + Sync + 'static,
    ) -> Result<Self> {
        if num_envs == 0 || num_threads == 0 {
            return Err(EnvError::InvalidConfig(format!(
                "need num_envs >= 1 and num_threads >= 1, got {num_envs} and {num_threads}"
            )));
        }
        let ranges = block_ranges(num_envs, num_threads.min(num_envs));
        let mut envs: Vec<E> = ranges[0].clone().map(&make_env).collect::<Result<_>>()?;
        let first = &envs[0];
        envs.iter().try_for_each(|e| check_same_spaces(first, e))?;
        let (observation_space, action_space) = (first.observation_space().clone(), first.action_space().clone());

        let obs_len = observation_space.flat_dim();
        let mut batch = Box::new(Batch::new(num_envs, obs_len));
        let ptrs = BatchPtrs::new(&mut batch);
        let caller = Waiter::new();
        let blocks: Vec<Block<E>> = ranges
            .iter()
            .map(|r| Block {
                envs: AtomicPtr::new(std::ptr::null_mut()),
                len: r.len(),
                first: r.start,
                cursor: AtomicUsize::new(0),
            })
            .collect();
        blocks_ready(&blocks, 0, &mut envs);
        let shared = Arc::new(Shared {
            ptrs,
            blocks,
            claim: AtomicUsize::new(1),
            command: UnsafeCell::new(Command::Idle),
            generation: AtomicU64::new(0),
            pending: AtomicUsize::new(0),
            caller: caller.unparker(),
            per_env: action_space.flat_dim(),
            failures: Failures::default(),
            snapshots: Mutex::new(vec![Snapshot::Null; num_envs]),
        });

        let make_env = Arc::new(make_env);
        let (ready_tx, ready_rx) = mpsc::channel::<Result<()>>();
        let mut workers = Vec::new();
        for (w, range) in ranges.iter().enumerate().skip(1) {
            let (shared, make_env, ready_tx, range) =
                (shared.clone(), make_env.clone(), ready_tx.clone(), range.clone());
            let (space_o, space_a) = (observation_space.clone(), action_space.clone());
            let mut waiter = Waiter::new();
            let unparker = waiter.unparker();
            let handle = std::thread::Builder::new()
                .name(format!("rlx-vecenv-{w}"))
                .spawn(move || {
                    let built: Result<Vec<E>> = range.clone().map(|i| make_env(i)).collect();
                    let mut envs = match built {
                        Ok(envs)
                            if envs
                                .iter()
                                .all(|e| e.observation_space() == &space_o && e.action_space() == &space_a) =>
                        {
                            envs
                        }
                        Ok(_) => {
                            let _ = ready_tx.send(Err(EnvError::InvalidConfig(
                                "all envs of a vector env must have the same spaces".into(),
                            )));
                            return;
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    };
                    blocks_ready(&shared.blocks, w, &mut envs);
                    let _ = ready_tx.send(Ok(()));
                    drop(ready_tx);
                    worker_loop(w, &shared, &mut waiter);
                    drop(envs); // after the pool shut down: nobody else can reach them any more
                })
                .map_err(|e| EnvError::InvalidConfig(format!("cannot spawn a vector env thread: {e}")))?;
            workers.push((handle, unparker));
        }
        drop(ready_tx);
        let pool =
            ThreadedVecEnv { _envs: envs, batch, shared, workers, caller, observation_space, action_space, num_envs };
        for _ in 1..ranges.len() {
            // A worker that failed to build its envs reports the error; `Drop` shuts the others down.
            ready_rx
                .recv()
                .map_err(|_| EnvError::InvalidConfig("a vector env thread exited during start-up".into()))??;
        }
        Ok(pool)
    }

    /// Publishes `command`, runs the caller's share of it, and waits for every worker.
    fn run(&mut self, command: Command) -> Result<()> {
        self.shared.failures.check_usable()?;
        let started = Instant::now();
        // SAFETY: no command is in flight (the previous `run` waited for all workers).
        unsafe { *self.shared.command.get() = command };
        for block in &self.shared.blocks {
            block.cursor.store(0, Ordering::Relaxed);
        }
        self.shared.pending.store(self.workers.len(), Ordering::Relaxed);
        self.shared.generation.fetch_add(1, Ordering::Release);
        for (_, unparker) in &self.workers {
            unparker.unpark();
        }
        // A panic must not unwind past the workers, which still read the caller's actions; and with stealing any
        // thread may step any env, so a panic on this thread is reported like a worker's: the pool is poisoned.
        let own_result = self.shared.failures.catch(0, || self.shared.execute(0, command));
        let shared = &self.shared;
        self.caller.wait_until(|| shared.pending.load(Ordering::Acquire) == 0);
        // SAFETY: all workers are done with the command; the caller's actions are no longer referenced.
        unsafe { *self.shared.command.get() = Command::Idle };
        if let Command::Step { .. } = command {
            // Microseconds per env step decide the claim size of the next command (see `Shared::claim`).
            let threads = self.shared.blocks.len() as f64;
            let per_env_us = started.elapsed().as_secs_f64() * 1e6 * threads / self.num_envs as f64;
            let claim = if per_env_us > 2.0 { 1 } else { self.num_envs.div_ceil(self.shared.blocks.len()) };
            self.shared.claim.store(claim, Ordering::Relaxed);
        }
        own_result?;
        self.shared.failures.take()
    }
}

/// Publishes block `b`'s envs; their vector is never resized afterwards.
fn blocks_ready<E>(blocks: &[Block<E>], b: usize, envs: &mut Vec<E>) {
    envs.shrink_to_fit();
    blocks[b].envs.store(envs.as_mut_ptr(), Ordering::Release);
}

/// How long a waiting thread spins before it parks, when its waits are usually short. Classic-control steps take
/// tens of nanoseconds, so a batch is often back within microseconds and a futex wake-up costs about as much as the
/// work: spin first.
const SPIN_BEFORE_PARK: Duration = Duration::from_micros(200);

/// A thread's way of waiting for a flag another thread sets. It spins up to `SPIN_BEFORE_PARK` while its recent
/// waits were shorter than that, and otherwise parks at once: an Atari batch takes milliseconds, and a thread
/// spinning through them would take a core from the threads doing the work (or from the agent's forward pass).
pub(super) struct Waiter {
    parker: Parker,
    /// Exponential moving average of this thread's recent waits, in microseconds.
    typical_wait_us: f64,
}

impl Waiter {
    pub(super) fn new() -> Self {
        Waiter { parker: Parker::new(), typical_wait_us: 0.0 }
    }

    /// Wakes this waiter (from another thread) after setting the flag it waits on.
    pub(super) fn unparker(&self) -> Unparker {
        self.parker.unparker().clone()
    }

    pub(super) fn wait_until(&mut self, done: impl Fn() -> bool) {
        let start = Instant::now();
        let spin =
            if self.typical_wait_us < SPIN_BEFORE_PARK.as_secs_f64() * 1e6 { SPIN_BEFORE_PARK } else { Duration::ZERO };
        'spin: while !done() {
            for _ in 0..64 {
                if done() {
                    break 'spin;
                }
                std::hint::spin_loop();
            }
            if start.elapsed() > spin {
                let backoff = Backoff::new();
                while !done() {
                    if backoff.is_completed() {
                        self.parker.park(); // an unpark after `done` flipped is remembered, so no wake-up is lost
                    } else {
                        backoff.snooze();
                    }
                }
                break;
            }
        }
        self.typical_wait_us = 0.9 * self.typical_wait_us + 0.1 * start.elapsed().as_secs_f64() * 1e6;
    }
}

fn worker_loop<E: Env>(worker: usize, shared: &Shared<E>, waiter: &mut Waiter) {
    let mut seen = 0;
    loop {
        waiter.wait_until(|| shared.generation.load(Ordering::Acquire) != seen);
        seen = shared.generation.load(Ordering::Acquire);
        // SAFETY: the generation was observed with Acquire after the caller wrote the command.
        let command = unsafe { *shared.command.get() };
        shared.failures.record(shared.failures.catch(worker, || shared.execute(worker, command)));
        let shutdown = matches!(command, Command::Shutdown);
        if shared.pending.fetch_sub(1, Ordering::AcqRel) == 1 {
            shared.caller.unpark();
        }
        if shutdown {
            return;
        }
    }
}

/// The first error of a pool's threads, and whether a panic left the pool unusable (both pools use it).
#[derive(Default)]
pub(super) struct Failures {
    first: Mutex<Option<EnvError>>,
    poisoned: AtomicBool,
}

impl Failures {
    /// Runs `work` for thread `worker`; a panic poisons the pool and becomes `EnvError::WorkerPanicked`.
    pub(super) fn catch(&self, worker: usize, work: impl FnOnce() -> Result<()>) -> Result<()> {
        catch_unwind(AssertUnwindSafe(work)).unwrap_or_else(|panic| {
            self.poisoned.store(true, Ordering::Release);
            Err(EnvError::WorkerPanicked { worker, message: panic_message(&*panic) })
        })
    }

    /// Keeps the first error a thread reports.
    pub(super) fn record(&self, outcome: Result<()>) {
        if let Err(e) = outcome {
            self.first.lock().unwrap().get_or_insert(e);
        }
    }

    /// The recorded error, cleared.
    pub(super) fn take(&self) -> Result<()> {
        self.first.lock().unwrap().take().map_or(Ok(()), Err)
    }

    pub(super) fn is_poisoned(&self) -> bool {
        self.poisoned.load(Ordering::Acquire)
    }

    /// An error for every call once a panic poisoned the pool.
    pub(super) fn check_usable(&self) -> Result<()> {
        if !self.is_poisoned() {
            return Ok(());
        }
        Err(self.first.lock().unwrap().clone().unwrap_or(EnvError::WorkerPanicked {
            worker: 0,
            message: "the pool is unusable after an earlier panic".into(),
        }))
    }
}

/// The message of a caught panic (`panic!("...")` payloads are `&str` or `String`).
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

fn snapshot_block<E: Env>(envs: &[E], first: usize, slots: &Mutex<Vec<Snapshot>>) -> Result<()> {
    let saved: Vec<Snapshot> = envs.iter().map(Env::snapshot).collect::<Result<_>>()?;
    slots.lock().unwrap()[first..first + envs.len()].clone_from_slice(&saved);
    Ok(())
}

fn restore_block<E: Env>(envs: &mut [E], first: usize, slots: &Mutex<Vec<Snapshot>>) -> Result<()> {
    let saved = slots.lock().unwrap()[first..first + envs.len()].to_vec();
    envs.iter_mut().zip(&saved).try_for_each(|(env, s)| env.restore(s))
}

impl<E: Env + Send + 'static> VecEnv for ThreadedVecEnv<E> {
    type Obs = E::Obs;

    fn num_envs(&self) -> usize {
        self.num_envs
    }
    fn single_observation_space(&self) -> &Space {
        &self.observation_space
    }
    fn single_action_space(&self) -> &Space {
        &self.action_space
    }

    fn reset(&mut self, seed: Option<u64>) -> Result<&Batch<E::Obs>> {
        self.run(Command::Reset(seed))?;
        Ok(&self.batch)
    }

    fn step(&mut self, actions: Actions<'_>) -> Result<&Batch<E::Obs>> {
        validate_actions(&self.action_space, actions, self.num_envs)?;
        self.run(Command::step(actions))?;
        Ok(&self.batch)
    }

    fn snapshot(&mut self) -> Result<Snapshot> {
        self.run(Command::Snapshot)?;
        Ok(Snapshot::Array(self.shared.snapshots.lock().unwrap().clone()))
    }

    fn restore(&mut self, snapshot: &Snapshot) -> Result<()> {
        self.shared.snapshots.lock().unwrap().clone_from(env_snapshots(snapshot, self.num_envs)?);
        self.run(Command::Restore)
    }
}

impl<E: Env> Drop for ThreadedVecEnv<E> {
    fn drop(&mut self) {
        if self.workers.is_empty() {
            return;
        }
        // Workers still starting up have not entered their loop; they see the generation when they do.
        unsafe { *self.shared.command.get() = Command::Shutdown };
        self.shared.pending.store(self.workers.len(), Ordering::Relaxed);
        self.shared.generation.fetch_add(1, Ordering::Release);
        for (handle, unparker) in self.workers.drain(..) {
            unparker.unpark();
            let _ = handle.join();
        }
    }
}
