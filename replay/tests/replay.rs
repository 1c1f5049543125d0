//! The replay buffer against ground truth: stacks rebuilt from single frames equal the env's own observations
//! (episode starts, life losses, the ring's wrap-around), n-step targets by hand (terminations, truncations, the
//! seam), prioritized sampling frequencies and weights, and the saved file.

use rand::{Rng, SeedableRng};
use rlx_envs::atari::{make_atari_with, AtariConfig, StackPadding};
use rlx_envs::vector::{Actions, SyncVecEnv, VecEnv};
use rlx_replay::{Batch, Padding, ReplayBuffer, ReplayConfig, ReplayError, Step};
use std::collections::HashMap;

fn config(capacity: usize, n_envs: usize, frame_len: usize, stack: usize) -> ReplayConfig {
    ReplayConfig {
        capacity,
        n_envs,
        frame_len,
        stack,
        padding: Padding::Reset,
        n_step: 1,
        gamma: 0.99,
        priority_alpha: None,
    }
}

/// What the env really returned for one transition.
#[derive(Clone, PartialEq, Debug)]
struct Truth {
    obs: Vec<u8>,
    action: i64,
    reward: f32,
    next_obs: Vec<u8>,
    terminated: bool,
}

#[test]
fn atari_stacks_rebuilt_from_single_frames_equal_the_envs_own() {
    stacks_rebuilt_from_single_frames_equal_the_envs_own(StackPadding::Reset, Padding::Reset);
}

#[test]
fn zero_padded_atari_stacks_rebuilt_from_single_frames_equal_the_envs_own() {
    stacks_rebuilt_from_single_frames_equal_the_envs_own(StackPadding::Zeros, Padding::Zeros);
}

fn stacks_rebuilt_from_single_frames_equal_the_envs_own(env_padding: StackPadding, padding: Padding) {
    // Breakout loses lives often (each life is an episode), and 2 x 150 slots wrap around many times.
    let n_envs = 2;
    let atari = AtariConfig { stack_padding: env_padding, ..AtariConfig::no_frameskip_v4() };
    let mut env =
        SyncVecEnv::from_fn(n_envs, move |_| make_atari_with("BreakoutNoFrameskip-v4", atari.clone())).unwrap();
    let mut buffer = ReplayBuffer::<u8>::new(ReplayConfig { padding, ..config(300, n_envs, 84 * 84, 4) }).unwrap();
    let obs_len = 4 * 84 * 84;
    let mut rng = rand_pcg::Pcg64::seed_from_u64(0);
    let mut obs = env.reset(Some(0)).unwrap().obs.clone();
    buffer.start(&obs);
    let mut truth: HashMap<(usize, u64), Truth> = HashMap::new();
    let mut pos = vec![0u64; n_envs];
    let (mut episodes, mut batch) = (0, Batch::default());
    for t in 0..1500 {
        let actions: Vec<i64> = (0..n_envs).map(|_| rng.random_range(0..4)).collect();
        let step = env.step(Actions::Discrete(&actions)).unwrap();
        buffer.add(&Step {
            actions: &actions,
            rewards: &step.rewards,
            terminated: &step.terminated,
            truncated: &step.truncated,
            obs: &step.obs,
            final_obs: &step.final_obs,
        });
        for i in 0..n_envs {
            let row = i * obs_len..(i + 1) * obs_len;
            let next = if step.done(i) { step.final_obs[row.clone()].to_vec() } else { step.obs[row.clone()].to_vec() };
            let record = Truth {
                obs: obs[row].to_vec(),
                action: actions[i],
                reward: step.rewards[i],
                next_obs: next,
                terminated: step.terminated[i],
            };
            truth.insert((i, pos[i]), record);
            pos[i] += if step.done(i) { 2 } else { 1 };
            episodes += step.done(i) as usize;
        }
        obs.copy_from_slice(&step.obs);
        if t % 50 == 49 {
            buffer.sample(64, 0.0, &mut rng, &mut batch).unwrap();
            for b in 0..64 {
                let want = &truth[&buffer.position(batch.indices[b])];
                let got = Truth {
                    obs: batch.obs[b * obs_len..(b + 1) * obs_len].to_vec(),
                    action: batch.actions[b],
                    reward: batch.rewards[b],
                    next_obs: batch.next_obs[b * obs_len..(b + 1) * obs_len].to_vec(),
                    terminated: batch.discounts[b] == 0.0,
                };
                assert!(got == *want, "step {t}: sampled transition {:?} differs", buffer.position(batch.indices[b]));
            }
        }
    }
    assert!(episodes > 10, "the run must cross many episode starts ({episodes})");
    assert_eq!(buffer.len(), 298, "2 streams of 150 frames hold 149 transitions each");
    // About 7.1 KB per transition: one 84x84 frame plus 9 bytes.
    assert_eq!(buffer.bytes(), 300 * (84 * 84 + 9));
}

/// A scalar "env" for hand-worked targets: obs = the step's id, stack 1.
fn scalar_buffer(capacity: usize, n_step: usize, gamma: f64, alpha: Option<f64>) -> ReplayBuffer<f32> {
    ReplayBuffer::new(ReplayConfig { n_step, gamma, priority_alpha: alpha, ..config(capacity, 1, 1, 1) }).unwrap()
}

/// Adds one step of the scalar env: reward, next obs, and how the episode ended (`reset` = next episode's first).
fn add(buffer: &mut ReplayBuffer<f32>, reward: f32, next: f32, end: Option<(bool, f32)>) {
    let (terminated, truncated, obs) = match end {
        Some((terminated, reset)) => (terminated, !terminated, reset),
        None => (false, false, next),
    };
    buffer.add(&Step {
        actions: &[0],
        rewards: &[reward],
        terminated: &[terminated],
        truncated: &[truncated],
        obs: &[obs],
        final_obs: &[next],
    });
}

/// Every sampleable transition, keyed by its obs: (n-step reward, discount, next obs).
fn all_targets(buffer: &ReplayBuffer<f32>) -> HashMap<i64, (f32, f32, f32)> {
    let mut rng = rand_pcg::Pcg64::seed_from_u64(1);
    let mut batch = Batch::default();
    let mut seen = HashMap::new();
    for _ in 0..200 {
        buffer.sample(16, 0.0, &mut rng, &mut batch).unwrap();
        for b in 0..16 {
            seen.insert(batch.obs[b] as i64, (batch.rewards[b], batch.discounts[b], batch.next_obs[b]));
        }
    }
    seen
}

#[test]
fn n_step_targets_by_hand_at_terminations_truncations_and_the_seam() {
    // Episode A: obs 0..=4, rewards 1, 2, 3, 4, terminated into 4. Episode B: obs 10..=13, rewards 1, 1, 1,
    // truncated into 13. Then C starts at 20. gamma 0.5, 3-step returns.
    let mut buffer = scalar_buffer(64, 3, 0.5, None);
    buffer.start(&[0.0]);
    for (i, r) in [1.0, 2.0, 3.0].into_iter().enumerate() {
        add(&mut buffer, r, i as f32 + 1.0, None);
    }
    add(&mut buffer, 4.0, 4.0, Some((true, 10.0)));
    add(&mut buffer, 1.0, 11.0, None);
    add(&mut buffer, 1.0, 12.0, None);
    add(&mut buffer, 1.0, 13.0, Some((false, 20.0)));
    for i in 0..4 {
        add(&mut buffer, 0.0, 21.0 + i as f32, None);
    }
    let t = all_targets(&buffer);
    // From obs 0: 1 + 0.5 * 2 + 0.25 * 3 = 2.75, bootstrap 0.125 * Q(obs 3).
    assert_eq!(t[&0], (2.75, 0.125, 3.0));
    // From obs 1 the third step is the one that terminated: 2 + 0.5 * 3 + 0.25 * 4 and no bootstrap; from 2,
    // 3 + 0.5 * 4; from 3, 4.
    assert_eq!(t[&1], (4.5, 0.0, 4.0));
    assert_eq!(t[&2], (5.0, 0.0, 4.0));
    assert_eq!(t[&3], (4.0, 0.0, 4.0));
    assert!(!t.contains_key(&4), "a final frame starts no transition");
    // Truncated episode: from 10, 1 + 0.5 + 0.25 and bootstrap 0.125 * Q(13: its true final obs, not 20).
    assert_eq!(t[&10], (1.75, 0.125, 13.0));
    assert_eq!(t[&11], (1.5, 0.25, 13.0));
    assert_eq!(t[&12], (1.0, 0.5, 13.0));
    assert_eq!(t[&20], (0.0, 0.125, 23.0));
    assert!(!t.contains_key(&22), "its 3 steps are not all written yet");

    // The seam: a ring of 8 frames after 30 steps of one long episode holds obs 23..=30; the targets cross the
    // physical wrap-around like any other.
    let mut buffer = scalar_buffer(8, 2, 0.5, None);
    buffer.start(&[0.0]);
    for i in 1..=30 {
        add(&mut buffer, i as f32, i as f32, None);
    }
    let t = all_targets(&buffer);
    let keys: Vec<i64> = {
        let mut k: Vec<i64> = t.keys().copied().collect();
        k.sort();
        k
    };
    assert_eq!(keys, (23..=28).collect::<Vec<_>>());
    for s in 23..=28 {
        assert_eq!(t[&s], ((s + 1) as f32 + 0.5 * (s + 2) as f32, 0.25, (s + 2) as f32), "from {s}");
    }
}

#[test]
fn prioritized_sampling_follows_the_priorities_and_weights_them() {
    // 8 transitions of one stream (obs 0..8), priorities 1..=8, alpha 0.6.
    let alpha = 0.6;
    let mut buffer = scalar_buffer(16, 1, 0.99, Some(alpha));
    buffer.start(&[0.0]);
    for i in 1..=9 {
        add(&mut buffer, 0.0, i as f32, None);
    }
    let mut rng = rand_pcg::Pcg64::seed_from_u64(7);
    let mut batch = Batch::default();
    // New transitions enter at the max priority (1): uniform at first.
    buffer.sample(9, 0.4, &mut rng, &mut batch).unwrap();
    assert!(batch.weights.iter().all(|&w| w == 1.0));
    // Find each transition's index by sampling, then set priorities 1..=9 by obs.
    let mut index_of = HashMap::new();
    for _ in 0..50 {
        buffer.sample(9, 0.4, &mut rng, &mut batch).unwrap();
        for b in 0..9 {
            index_of.insert(batch.obs[b] as usize, batch.indices[b]);
        }
    }
    assert_eq!(index_of.len(), 9);
    let priorities: Vec<f64> = (0..9).map(|obs| (obs + 1) as f64).collect();
    let idx: Vec<usize> = (0..9).map(|obs| index_of[&obs]).collect();
    buffer.update_priorities(&idx, &priorities);

    let expected: Vec<f64> = {
        let p: Vec<f64> = priorities.iter().map(|p| p.powf(alpha)).collect();
        let total: f64 = p.iter().sum();
        p.iter().map(|x| x / total).collect()
    };
    let (draws, batch_size) = (20_000, 32);
    let mut counts = [0usize; 9];
    for _ in 0..draws / batch_size {
        buffer.sample(batch_size, 0.5, &mut rng, &mut batch).unwrap();
        for b in 0..batch_size {
            let obs = batch.obs[b] as usize;
            counts[obs] += 1;
            // w = (P(i) / P_min)^-beta, P_min = P(obs 0).
            let w = (expected[obs] / expected[0]).powf(-0.5);
            assert!((batch.weights[b] as f64 - w).abs() < 1e-6, "weight of {obs}: {} vs {w}", batch.weights[b]);
        }
    }
    // Pearson's chi-square against the expected frequencies, 8 degrees of freedom. The critical value 42.7 has a
    // false-alarm rate of 1e-6 under multinomial sampling (mpmath: gammainc(4, 0, 42.7/2, regularized) =
    // 1 - 1e-6); stratified sampling has less variance than that, so the true rate is lower still.
    let n = (draws / batch_size * batch_size) as f64;
    let chi2: f64 = counts.iter().zip(&expected).map(|(&c, &p)| (c as f64 - n * p).powi(2) / (n * p)).sum();
    assert!(chi2 < 42.7, "sampling frequencies {counts:?} do not follow the priorities (chi2 = {chi2:.1})");
}

#[test]
fn a_saved_buffer_loads_back_exactly_and_bad_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("replay.bin");
    let mut buffer = scalar_buffer(32, 3, 0.9, Some(0.6));
    buffer.start(&[0.0]);
    for i in 1..50 {
        let end = (i % 7 == 0).then_some((i % 14 == 0, 100.0 + i as f32));
        add(&mut buffer, i as f32, i as f32, end);
    }
    buffer.update_priorities(&[3, 5], &[4.0, 0.5]);
    buffer.save(&path).unwrap();
    let config = buffer.config().clone();
    let loaded = ReplayBuffer::<f32>::load(&path, &config).unwrap();
    let (mut a, mut b) = (Batch::default(), Batch::default());
    for seed in 0..5 {
        buffer.sample(8, 0.4, &mut rand_pcg::Pcg64::seed_from_u64(seed), &mut a).unwrap();
        loaded.sample(8, 0.4, &mut rand_pcg::Pcg64::seed_from_u64(seed), &mut b).unwrap();
        assert_eq!(
            (&a.obs, &a.next_obs, &a.rewards, &a.discounts, &a.weights),
            (&b.obs, &b.next_obs, &b.rewards, &b.discounts, &b.weights)
        );
    }
    assert_eq!((loaded.added(), loaded.len()), (buffer.added(), buffer.len()));

    let bytes = std::fs::read(&path).unwrap();
    let error = |bytes: &[u8], config: &ReplayConfig| {
        let bad = dir.path().join("bad.bin");
        std::fs::write(&bad, bytes).unwrap();
        match ReplayBuffer::<f32>::load(&bad, config) {
            Err(e @ ReplayError::Load { .. }) => e.to_string(),
            other => panic!("expected a load error, got {:?}", other.map(|b| b.len())),
        }
    };
    assert!(error(&bytes[..bytes.len() - 100], &config).contains("truncated"));
    let mut corrupt = bytes.clone();
    corrupt[bytes.len() / 2] ^= 0xFF;
    assert!(error(&corrupt, &config).contains("checksum mismatch"));
    assert!(error(b"not a replay file at all", &config).contains("not an rlx replay file"));
    let other = ReplayConfig { n_step: 1, ..config.clone() };
    assert!(error(&bytes, &other).contains("another buffer layout"));
    assert!(ReplayBuffer::<u8>::load(&path, &config).unwrap_err().to_string().contains("another buffer layout"));
    assert_eq!(error(&corrupt, &config).lines().count(), 1);
}

#[test]
fn zero_padding_and_bad_configs() {
    // SB3's VecFrameStack pads with zeros: the stack of an episode's second frame is [0, 0, f0, f1].
    let mut buffer = ReplayBuffer::<f32>::new(ReplayConfig { padding: Padding::Zeros, ..config(16, 1, 1, 4) }).unwrap();
    buffer.start(&[0.0, 0.0, 0.0, 5.0]);
    for i in 0..3 {
        let obs = [0.0, 0.0, 5.0, 6.0 + i as f32];
        buffer.add(&Step {
            actions: &[1],
            rewards: &[0.0],
            terminated: &[false],
            truncated: &[false],
            obs: &obs,
            final_obs: &obs,
        });
    }
    let mut batch = Batch::default();
    let mut rng = rand_pcg::Pcg64::seed_from_u64(0);
    let mut stacks = std::collections::BTreeSet::new();
    for _ in 0..50 {
        buffer.sample(1, 0.0, &mut rng, &mut batch).unwrap();
        stacks.insert(batch.obs.iter().map(|v| *v as i64).collect::<Vec<_>>());
    }
    assert!(stacks.contains(&vec![0, 0, 0, 5]) && stacks.contains(&vec![0, 0, 5, 6]), "{stacks:?}");
    assert!(ReplayBuffer::<u8>::new(config(4, 1, 1, 4)).is_err(), "too small for a stack of 4");
    assert!(ReplayBuffer::<u8>::new(ReplayConfig { priority_alpha: Some(2.0), ..config(64, 1, 1, 1) }).is_err());
    assert!(matches!(scalar_buffer(16, 1, 0.9, None).sample(4, 0.0, &mut rng, &mut batch), Err(ReplayError::Empty)));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]

    /// Random bytes, and a saved buffer with bytes overwritten or cut off, load as an error (or, when the damage
    /// changed nothing, as the same buffer), never a panic.
    #[test]
    fn damaged_or_random_replay_files_are_errors_never_panics(
        noise in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512),
        at in 0usize..100_000,
        cut in proptest::prelude::any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("replay.bin");
        let config = ReplayConfig { n_step: 3, gamma: 0.9, priority_alpha: Some(0.6), ..config(32, 1, 1, 1) };
        std::fs::write(&path, &noise).unwrap();
        proptest::prop_assert!(ReplayBuffer::<f32>::load(&path, &config).is_err());
        let mut buffer = ReplayBuffer::<f32>::new(config.clone()).unwrap();
        buffer.start(&[0.0]);
        for i in 1..40 {
            add(&mut buffer, i as f32, i as f32, (i % 9 == 0).then_some((true, 0.0)));
        }
        buffer.save(&path).unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        let at = at % bytes.len();
        if cut {
            bytes.truncate(at);
        } else {
            let end = (at + noise.len()).min(bytes.len());
            bytes[at..end].copy_from_slice(&noise[..end - at]);
        }
        std::fs::write(&path, &bytes).unwrap();
        if let Ok(loaded) = ReplayBuffer::<f32>::load(&path, &config) {
            proptest::prop_assert!(loaded == buffer);
        }
    }
}
