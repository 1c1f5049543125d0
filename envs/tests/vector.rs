//! Vector envs: determinism across thread counts, same-step autoreset with the final observation, episode
//! statistics, and typed errors for bad batches (with no env stepped).

use rand::{Rng, SeedableRng};
use rlx_envs::vector::{Actions, AsyncVecEnv, SyncVecEnv, ThreadedVecEnv, VecEnv};
use rlx_envs::wrappers::RecordEpisodeStatistics;
use rlx_envs::{make, Action, BoxedEnv, Env, EnvError, Info, Result, Space, Step};

fn cartpole(_: usize) -> Result<RecordEpisodeStatistics<BoxedEnv>> {
    Ok(RecordEpisodeStatistics::new(make("CartPole-v1")?))
}

/// One step of a vector env, flattened for comparison: obs, rewards, terminated, truncated, final obs, infos.
type StepRecord = (Vec<f32>, Vec<f32>, Vec<bool>, Vec<bool>, Vec<f32>, Vec<Info>);

/// Everything a vector env returned over `steps` random steps.
fn rollout(env: &mut dyn VecEnv<Obs = f32>, steps: usize) -> Vec<StepRecord> {
    let n = env.num_envs();
    let mut rng = rand_pcg::Pcg64::seed_from_u64(7);
    env.reset(Some(42)).unwrap();
    (0..steps)
        .map(|_| {
            let actions: Vec<i64> = (0..n).map(|_| rng.random_range(0..2)).collect();
            let b = env.step(Actions::Discrete(&actions)).unwrap();
            let final_obs =
                (0..n).flat_map(|i| if b.done(i) { b.final_obs(i).to_vec() } else { vec![0.0; 4] }).collect();
            (b.obs.clone(), b.rewards.clone(), b.terminated.clone(), b.truncated.clone(), final_obs, b.infos.clone())
        })
        .collect()
}

#[test]
fn same_seed_same_trajectories_whatever_the_thread_count() {
    let reference = rollout(&mut SyncVecEnv::from_fn(7, cartpole).unwrap(), 400);
    let episodes_ended = reference.iter().flat_map(|s| &s.2).filter(|&&t| t).count();
    assert!(episodes_ended > 50, "the rollout must cover many autoresets, saw {episodes_ended}");
    for threads in [1, 2, 3, 7, 16] {
        let mut pool = ThreadedVecEnv::new(7, threads, cartpole).unwrap();
        assert_eq!(rollout(&mut pool, 400), reference, "{threads} threads");
    }
}

#[test]
fn autoreset_returns_the_next_episode_and_keeps_the_final_observation() {
    // A single CartPole pushed right until it falls, next to a standalone copy with the same seed.
    let mut solo = make("CartPole-v1").unwrap();
    let (first_obs, _) = solo.reset(Some(3));
    let mut vec = SyncVecEnv::from_fn(1, cartpole).unwrap();
    assert_eq!(vec.reset(Some(3)).unwrap().obs, first_obs, "env 0 is seeded with seed + 0");
    let mut t = 0;
    loop {
        t += 1;
        let (obs, step) = solo.step(Action::Discrete(1)).unwrap();
        let b = vec.step(Actions::Discrete(&[1])).unwrap();
        assert_eq!(
            (b.rewards[0], b.terminated[0], b.truncated[0]),
            (step.reward as f32, step.terminated, step.truncated)
        );
        if step.done() {
            assert_eq!(b.final_obs(0), &obs[..], "final_obs is the observation that ended the episode");
            let (reset_obs, _) = solo.reset(None);
            assert_eq!(b.obs(0), &reset_obs[..], "obs is already the next episode's first observation");
            assert_eq!(b.infos[0].episode.unwrap().len, t);
            assert_eq!(b.infos[0].episode.unwrap().ret, t as f64);
            break;
        }
        assert_eq!(b.obs(0), &obs[..]);
        assert!(b.infos[0].episode.is_none());
    }
}

#[test]
fn truncation_is_reported_with_the_final_observation() {
    let mut vec = ThreadedVecEnv::new(3, 2, |_| make("Pendulum-v1")).unwrap();
    vec.reset(Some(0)).unwrap();
    for t in 1..=200 {
        let b = vec.step(Actions::Continuous(&[0.5, -0.5, 2.0])).unwrap();
        assert!(b.terminated.iter().all(|&x| !x));
        assert_eq!(b.truncated.iter().all(|&x| x), t == 200, "step {t}");
        if t == 200 {
            // Pendulum observations are (cos, sin, theta_dot): the final one is a real state, the new one a reset.
            for i in 0..3 {
                let f = b.final_obs(i);
                assert!((f[0] * f[0] + f[1] * f[1] - 1.0).abs() < 1e-5);
                assert_ne!(b.obs(i), f);
            }
        }
    }
}

#[test]
fn bad_batches_are_typed_errors_and_step_no_env() {
    for threads in [1, 2] {
        let mut pool = ThreadedVecEnv::new(4, threads, cartpole).unwrap();
        let mut twin = SyncVecEnv::from_fn(4, cartpole).unwrap();
        pool.reset(Some(1)).unwrap();
        twin.reset(Some(1)).unwrap();
        assert!(matches!(
            pool.step(Actions::Discrete(&[0, 1, 0])),
            Err(EnvError::BatchSize { expected: 4, num_envs: 4, per_env: 1, got: 3 })
        ));
        assert!(matches!(pool.step(Actions::Discrete(&[0, 1, 2, 0])), Err(EnvError::ActionOutOfRange { .. })));
        assert!(matches!(pool.step(Actions::Continuous(&[0.0; 4])), Err(EnvError::ActionMismatch { .. })));
        // The rejected batches moved nothing: both still agree.
        let a = pool.step(Actions::Discrete(&[1, 1, 0, 0])).unwrap().obs.clone();
        assert_eq!(a, twin.step(Actions::Discrete(&[1, 1, 0, 0])).unwrap().obs);
    }
    let mut pendulum = ThreadedVecEnv::new(2, 2, |_| make("Pendulum-v1")).unwrap();
    pendulum.reset(Some(0)).unwrap();
    let err = pendulum.step(Actions::Continuous(&[0.0, f32::NAN])).unwrap_err();
    assert!(matches!(err, EnvError::NonFiniteAction { .. }), "{err}");
    assert!(err.to_string().contains("non-finite"));
}

#[test]
fn construction_errors_are_returned_not_panicked() {
    let err = ThreadedVecEnv::new(4, 2, |i| if i == 3 { make("Nope-v0") } else { make("CartPole-v1") }).err().unwrap();
    assert!(matches!(err, EnvError::UnknownEnv { .. }), "{err}");
    assert!(matches!(ThreadedVecEnv::new(0, 2, |_| make("CartPole-v1")).err().unwrap(), EnvError::InvalidConfig(_)));
    assert!(matches!(SyncVecEnv::<BoxedEnv>::new(vec![]).err().unwrap(), EnvError::InvalidConfig(_)));
}

/// An env that panics on its 5th step when `fragile`, to check that a worker's panic becomes an error, not a hang.
struct Fragile {
    steps: u32,
    fragile: bool,
    space: Space,
}

impl Env for Fragile {
    type Obs = f32;
    fn observation_space(&self) -> &Space {
        &self.space
    }
    fn action_space(&self) -> &Space {
        &self.space
    }
    fn reset_into(&mut self, _seed: Option<u64>, _obs: &mut [f32]) -> Info {
        Info::default()
    }
    fn step_into(&mut self, _action: Action<'_>, _obs: &mut [f32]) -> Result<Step> {
        self.steps += 1;
        assert!(!self.fragile || self.steps < 5, "fragile env broke");
        Ok(Step::default())
    }
}

#[test]
fn a_panicking_worker_poisons_the_pool_with_an_error() {
    // Env 1 lives in the worker's block, but either thread may step it (work stealing): the panic is an error
    // whichever thread it happens on, and names that thread.
    for threads in [1, 2] {
        let mut pool =
            ThreadedVecEnv::new(2, threads, |i| Ok(Fragile { steps: 0, fragile: i == 1, space: Space::discrete(2) }))
                .unwrap();
        pool.reset(None).unwrap();
        for _ in 0..4 {
            pool.step(Actions::Discrete(&[0, 0])).unwrap();
        }
        match pool.step(Actions::Discrete(&[0, 0])).unwrap_err() {
            EnvError::WorkerPanicked { worker, message } => {
                assert!(worker < threads && message == "fragile env broke", "{worker} {message}")
            }
            other => panic!("{other}"),
        }
        assert!(pool.step(Actions::Discrete(&[0, 0])).is_err(), "a poisoned pool keeps failing");
    }

    // The async pool: the panic surfaces at the recv that returns the broken env, and the pool stays failed.
    let mut pool =
        AsyncVecEnv::new(2, 2, 2, |i| Ok(Fragile { steps: 0, fragile: i == 1, space: Space::discrete(2) })).unwrap();
    pool.async_reset(None).unwrap();
    let mut outcome = pool.recv().map(|_| ());
    for _ in 0..5 {
        if outcome.is_err() {
            break;
        }
        pool.send_received(Actions::Discrete(&[0, 0])).unwrap();
        outcome = pool.recv().map(|_| ());
    }
    // Either worker may have stepped env 1 (an idle worker takes the other's jobs).
    assert!(matches!(outcome.unwrap_err(), EnvError::WorkerPanicked { message, .. } if message == "fragile env broke"));
    assert!(pool.recv().is_err() && pool.send(Actions::Discrete(&[0]), &[0]).is_err(), "it keeps failing");
}

#[test]
fn snapshot_and_restore_continue_bit_for_bit_in_a_fresh_vector_env() {
    use rlx_envs::vector::{VecNormalize, VecNormalizeConfig};
    let make_pool = |threads| -> Box<dyn VecEnv<Obs = f32>> {
        let pool = ThreadedVecEnv::new(5, threads, |_| Ok(RecordEpisodeStatistics::new(make("Acrobot-v1")?))).unwrap();
        Box::new(VecNormalize::new(pool, VecNormalizeConfig::default()))
    };
    let actions = |t: usize| -> Vec<i64> { (0..5).map(|i| ((t * 7 + i * 3) % 3) as i64).collect() };
    let mut original = make_pool(2);
    original.reset(Some(9)).unwrap();
    for t in 0..700 {
        original.step(Actions::Discrete(&actions(t))).unwrap();
    }
    let snapshot = original.snapshot().unwrap();
    let continued: Vec<_> =
        (700..1400).map(|t| original.step(Actions::Discrete(&actions(t))).unwrap().clone()).collect();

    // A fresh pool with another thread count, never reset with that seed, restored from the snapshot.
    let mut restored = make_pool(1);
    restored.reset(Some(12345)).unwrap();
    restored.restore(&serde_json::from_str(&serde_json::to_string(&snapshot).unwrap()).unwrap()).unwrap();
    for (k, t) in (700..1400).enumerate() {
        let b = restored.step(Actions::Discrete(&actions(t))).unwrap();
        assert_eq!(b.obs, continued[k].obs, "step {t}");
        assert_eq!(b.rewards, continued[k].rewards, "step {t}");
        assert_eq!(b.infos, continued[k].infos, "step {t}");
    }
    assert!(
        restored.restore(&serde_json::json!({"env": [], "normalize": {}})).is_err(),
        "a malformed snapshot is an error"
    );
}

/// What one env returned at each of its steps: obs, reward, terminated, truncated, final obs where done.
type EnvTrace = Vec<(Vec<f32>, f32, bool, bool, Option<Vec<f32>>)>;

/// A fixed action for env `i` at its step `t`, so every env sees the same actions in any schedule.
fn scripted_action(i: usize, t: usize) -> i64 {
    ((i * 7 + t * 13 + t / 5) % 2) as i64
}

/// Per-env traces of `steps` synchronous steps with the scripted actions.
fn sync_traces(num_envs: usize, steps: usize) -> Vec<EnvTrace> {
    let mut env = SyncVecEnv::from_fn(num_envs, cartpole).unwrap();
    let first = env.reset(Some(42)).unwrap().clone();
    let mut traces: Vec<EnvTrace> =
        (0..num_envs).map(|i| vec![(first.obs(i).to_vec(), 0.0, false, false, None)]).collect();
    for t in 0..steps {
        let actions: Vec<i64> = (0..num_envs).map(|i| scripted_action(i, t)).collect();
        let b = env.step(Actions::Discrete(&actions)).unwrap();
        for (i, trace) in traces.iter_mut().enumerate() {
            let final_obs = b.done(i).then(|| b.final_obs(i).to_vec());
            trace.push((b.obs(i).to_vec(), b.rewards[i], b.terminated[i], b.truncated[i], final_obs));
        }
    }
    traces
}

#[test]
fn async_pool_gives_each_env_its_synchronous_trajectory() {
    let (num_envs, steps) = (8, 300);
    let reference = sync_traces(num_envs, steps);
    for (threads, batch_size) in [(1, 8), (2, 3), (3, 1), (4, 5)] {
        let mut pool = AsyncVecEnv::new(num_envs, threads, batch_size, cartpole).unwrap();
        pool.async_reset(Some(42)).unwrap();
        let mut traces: Vec<EnvTrace> = vec![Vec::new(); num_envs];
        let mut actions = Vec::new();
        // Until every env has made `steps` steps after its reset; envs ahead just keep going.
        while traces.iter().any(|t| t.len() <= steps) {
            let b = pool.recv().unwrap();
            assert_eq!(b.env_ids.len(), batch_size);
            actions.clear();
            for (row, &i) in b.env_ids.iter().enumerate() {
                let final_obs = b.done(row).then(|| b.final_obs(row).to_vec());
                traces[i].push((b.obs(row).to_vec(), b.rewards[row], b.terminated[row], b.truncated[row], final_obs));
                actions.push(scripted_action(i, traces[i].len() - 1));
            }
            pool.send_received(Actions::Discrete(&actions)).unwrap();
        }
        for (i, (trace, want)) in traces.iter().zip(&reference).enumerate() {
            assert_eq!(&trace[..=steps], &want[..], "env {i}, {threads} threads, batch {batch_size}");
        }
        let ended = traces.iter().flatten().filter(|s| s.2).count();
        assert!(ended > 20, "the run must cover autoresets, saw {ended}");
    }
}

#[test]
fn async_pool_rejects_bad_sends_and_receives_without_moving_an_env() {
    let mut pool = AsyncVecEnv::new(4, 2, 2, cartpole).unwrap();
    let err = |r: Result<()>| r.unwrap_err().to_string();
    assert!(pool.recv().is_err(), "nothing in flight");
    assert!(err(pool.send_received(Actions::Discrete(&[0, 0]))).contains("before any recv"));
    pool.async_reset(Some(0)).unwrap();
    assert!(err(pool.async_reset(None)).contains("in flight"));
    let ids = pool.recv().unwrap().env_ids.clone();
    assert!(err(pool.send(Actions::Discrete(&[0]), &ids)).contains("expected 2 action values"));
    assert!(err(pool.send(Actions::Discrete(&[0, 0]), &[ids[0], 9])).contains("out of range"));
    assert!(err(pool.send(Actions::Discrete(&[0, 0]), &[ids[0], ids[0]])).contains("already in flight"));
    let busy = (0..4).find(|i| !ids.contains(i)).unwrap();
    assert!(err(pool.send(Actions::Discrete(&[0, 0]), &[ids[0], busy])).contains("already in flight"));
    assert!(matches!(pool.send(Actions::Discrete(&[0, 5]), &ids), Err(EnvError::ActionOutOfRange { .. })));
    // Nothing moved: the two received envs can still be sent, and all four come back.
    pool.send(Actions::Discrete(&[1, 1]), &ids).unwrap();
    let mut seen: Vec<usize> = pool.recv().unwrap().env_ids.clone();
    seen.extend(&pool.recv().unwrap().env_ids);
    seen.sort();
    assert_eq!(seen, vec![0, 1, 2, 3]);
    assert!(AsyncVecEnv::new(4, 2, 5, cartpole).is_err(), "batch_size above num_envs");
    assert!(AsyncVecEnv::new(4, 2, 0, cartpole).is_err());
}
