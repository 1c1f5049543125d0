//! The shared buffer under concurrent writers: four actor threads, each with its own envs, append while the
//! learner applies and samples; the result loses and duplicates nothing (it equals the buffer the same steps build
//! on one thread), payloads arrive in each writer's order, and steps sent before the writers stopped are kept.

use rand::{Rng, SeedableRng};
use rlx_replay::{Batch, Padding, ReplayBuffer, ReplayConfig, SharedReplay, Step};

const N_ENVS: usize = 8;
const WRITERS: usize = 4;
const STEPS: usize = 3_000;
const OBS: usize = 3; // a vector observation of 3 floats, stack 1

fn config() -> ReplayConfig {
    ReplayConfig {
        capacity: N_ENVS * 4_000, // nothing overwritten: every transition stays checkable
        n_envs: N_ENVS,
        frame_len: OBS,
        stack: 1,
        padding: Padding::Reset,
        n_step: 3,
        gamma: 0.9,
        priority_alpha: Some(0.6),
    }
}

/// Step `t` of env `env`: observations encode (env, t) so any lost, duplicated or misplaced step shows; episodes
/// end every 17 steps, alternately terminated and truncated.
struct EnvStep {
    action: i64,
    reward: f32,
    terminated: bool,
    truncated: bool,
    obs: [f32; OBS],
    final_obs: [f32; OBS],
}

fn env_step(env: usize, t: usize) -> EnvStep {
    let ends = t % 17 == 16;
    let code = |k: usize| [env as f32, k as f32, (env * 100_000 + k) as f32];
    EnvStep {
        action: ((env + t) % 6) as i64,
        reward: ((env * 7 + t) % 5) as f32 - 2.0,
        terminated: ends && (t / 17).is_multiple_of(2),
        truncated: ends && (t / 17) % 2 == 1,
        obs: code(if ends { 1_000_000 + t } else { t + 1 }), // after an end: the next episode's first obs
        final_obs: code(t + 1),
    }
}

/// One step of the envs `envs`, owned, as the rows of a `Step`.
struct Rows {
    actions: Vec<i64>,
    rewards: Vec<f32>,
    terminated: Vec<bool>,
    truncated: Vec<bool>,
    obs: Vec<f32>,
    final_obs: Vec<f32>,
}

impl Rows {
    fn new(envs: std::ops::Range<usize>, t: usize) -> Rows {
        let steps: Vec<EnvStep> = envs.map(|env| env_step(env, t)).collect();
        Rows {
            actions: steps.iter().map(|s| s.action).collect(),
            rewards: steps.iter().map(|s| s.reward).collect(),
            terminated: steps.iter().map(|s| s.terminated).collect(),
            truncated: steps.iter().map(|s| s.truncated).collect(),
            obs: steps.iter().flat_map(|s| s.obs).collect(),
            final_obs: steps.iter().flat_map(|s| s.final_obs).collect(),
        }
    }

    fn step(&self) -> Step<'_, f32> {
        Step {
            actions: &self.actions,
            rewards: &self.rewards,
            terminated: &self.terminated,
            truncated: &self.truncated,
            obs: &self.obs,
            final_obs: &self.final_obs,
        }
    }
}

fn first_obs() -> Vec<f32> {
    (0..N_ENVS).flat_map(|env| [env as f32, 0.0, (env * 100_000) as f32]).collect()
}

#[test]
fn concurrent_writers_lose_and_duplicate_nothing() {
    // The reference: every env's steps added on one thread.
    let mut sequential = ReplayBuffer::<f32>::new(config()).unwrap();
    sequential.start(&first_obs());
    for t in 0..STEPS {
        let rows = Rows::new(0..N_ENVS, t);
        let step = rows.step();
        sequential.add(&step);
    }

    // Four writers of two envs each, racing; the learner applies and samples while they write.
    let mut buffer = ReplayBuffer::<f32>::new(config()).unwrap();
    buffer.start(&first_obs());
    let mut shared: SharedReplay<f32, (usize, usize)> = SharedReplay::new(&mut buffer, 64);
    let per_writer = N_ENVS / WRITERS;
    let writers: Vec<_> = (0..WRITERS).map(|w| shared.writer(w * per_writer..(w + 1) * per_writer).unwrap()).collect();
    assert!(shared.writer(1..3).is_err(), "an env already written by another writer");
    shared.close_writers();
    let mut payloads = Vec::new();
    std::thread::scope(|scope| {
        for (w, writer) in writers.into_iter().enumerate() {
            scope.spawn(move || {
                let mut jitter = rand_pcg::Pcg64::seed_from_u64(w as u64);
                for t in 0..STEPS {
                    let rows = Rows::new(writer.envs(), t);
                    let step = rows.step();
                    writer.add(&step, (w, t)).unwrap();
                    if jitter.random::<f64>() < 0.01 {
                        std::thread::yield_now();
                    }
                }
                // The writer drops here, possibly with steps still in the channel.
            });
        }
        let (mut rng, mut batch) = (rand_pcg::Pcg64::seed_from_u64(9), Batch::default());
        while let Some(payload) = shared.apply_next() {
            payloads.push(payload);
            if payloads.len() % 50 == 0 && shared.buffer.sampleable_len() > 0 {
                shared.buffer.sample(32, 0.4, &mut rng, &mut batch).unwrap();
            }
        }
    });
    assert_eq!(payloads.len(), WRITERS * STEPS, "every step applied once");
    for w in 0..WRITERS {
        let order: Vec<usize> = payloads.iter().filter(|p| p.0 == w).map(|p| p.1).collect();
        assert_eq!(order, (0..STEPS).collect::<Vec<_>>(), "writer {w}'s steps in its order");
    }
    assert!(shared.apply_pending().is_empty());
    drop(shared);
    assert_eq!(buffer.added(), (N_ENVS * STEPS) as u64);
    assert!(buffer == sequential, "the shared buffer equals the one built on one thread");
}

#[test]
fn a_writer_refuses_a_step_of_the_wrong_size() {
    let mut buffer = ReplayBuffer::<f32>::new(config()).unwrap();
    buffer.start(&first_obs());
    let mut shared: SharedReplay<f32> = SharedReplay::new(&mut buffer, 4);
    let writer = shared.writer(0..2).unwrap();
    let rows = Rows::new(0..3, 0);
    let step = rows.step();
    assert!(writer.add(&step, ()).is_err());
    assert!(shared.writer(7..9).is_err(), "envs beyond the buffer's");
}
