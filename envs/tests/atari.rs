//! Atari: every bundled game loads and steps; the SB3 chain's pieces (no-op/FIRE reset, max-pooling, episodic
//! life, reward clipping versus the raw score, stacking across resets); determinism per seed; vector envs.

use rand::{Rng, SeedableRng};
use rlx_envs::atari::{
    atari_ids, luma, make_atari, make_atari_with, AreaResize, AtariConfig, FramePipeline, SCREEN_HEIGHT, SCREEN_WIDTH,
};
use rlx_envs::vector::{Actions, AsyncVecEnv, SyncVecEnv, ThreadedVecEnv, VecEnv};
use rlx_envs::{Action, Env, EnvError};

/// The sign of a reward (f64::signum maps 0 to 1).
fn sign(x: f64) -> f64 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        0.0
    }
}

fn random_actions(n: usize, actions: i64, seed: u64) -> Vec<i64> {
    let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
    (0..n).map(|_| rng.random_range(0..actions)).collect()
}

#[test]
fn every_bundled_game_loads_and_steps() {
    let ids: Vec<String> = atari_ids().filter(|id| id.ends_with("NoFrameskip-v4")).collect();
    assert_eq!(ids.len(), 61);
    for id in &ids {
        let mut env = make_atari(id).unwrap_or_else(|e| panic!("{id}: {e}"));
        assert_eq!(env.observation_space().shape(), vec![4, 84, 84], "{id}");
        let (obs, info) = env.reset(Some(0));
        assert!(info.lives.is_some());
        let n = env.action_space().flat_dim();
        assert_eq!(obs.len(), 4 * 84 * 84);
        let Some(n_actions) = (match env.action_space() {
            rlx_envs::Space::Discrete { n, .. } => Some(*n),
            _ => None,
        }) else {
            panic!("{id}: Atari actions are discrete")
        };
        assert_eq!(n, 1);
        for a in random_actions(30, n_actions, 1) {
            let (_, step) = env.step(Action::Discrete(a)).unwrap();
            if step.done() {
                env.reset(None);
            }
        }
    }
}

#[test]
fn unknown_games_and_bad_actions_are_errors() {
    let err = make_atari("PongNoFrameskip-v9").err().unwrap();
    assert!(matches!(err, EnvError::UnknownEnv { .. }), "{err}");
    assert!(err.to_string().contains("PongNoFrameskip-v4"), "{err}");
    assert!(make_atari("ALE/Pongg-v5").err().unwrap().to_string().contains("ALE/Pong-v5"));
    let err = rlx_envs::make("BreakoutNoFrameskip-v4").err().unwrap();
    assert!(err.to_string().contains("make_atari"), "{err}");
    let mut env = make_atari("PongNoFrameskip-v4").unwrap();
    assert_eq!(env.step(Action::Discrete(0)).err(), Some(EnvError::ResetNeeded));
    env.reset(Some(0));
    assert!(matches!(env.step(Action::Discrete(6)), Err(EnvError::ActionOutOfRange { .. })), "Pong has 6 actions");
    assert!(make_atari_with("PongNoFrameskip-v4", AtariConfig { frame_skip: 0, ..Default::default() }).is_err());
    // A ROM folder without the game's file: a clear error, before ALE sees anything.
    let config = AtariConfig { rom_dir: Some("/nonexistent-roms".into()), ..AtariConfig::default() };
    let err = make_atari_with("PongNoFrameskip-v4", config).err().unwrap().to_string();
    assert!(err.contains("/nonexistent-roms/pong.bin"), "{err}");
}

#[test]
fn noop_and_fire_resets_advance_the_emulator_as_sb3_does() {
    // Breakout needs FIRE. Episode frame numbers after reset: noops (1..=30) + FIRE and action 2, 4 frames each.
    let quiet = AtariConfig { noop_max: 0, fire_reset: false, ..Default::default() };
    let mut env = make_atari_with("BreakoutNoFrameskip-v4", quiet).unwrap();
    let (a, _) = env.reset(Some(0));
    let (b, _) = env.reset(Some(1));
    assert_eq!(a, b, "without noops every reset shows the same first frame");

    let mut env = make_atari("BreakoutNoFrameskip-v4").unwrap();
    let mut first_frames = std::collections::HashSet::new();
    for seed in 0..6 {
        let (obs, _) = env.reset(Some(seed));
        first_frames.insert(obs);
    }
    assert!(first_frames.len() > 1, "random no-ops give different starts");
    let (x, _) = env.reset(Some(3));
    let (y, _) = make_atari("BreakoutNoFrameskip-v4").unwrap().reset(Some(3));
    assert_eq!(x, y, "the same seed gives the same start");
}

#[test]
fn frames_are_the_max_of_the_last_two_then_area_resized() {
    // sb3: the channel-wise max of the last two RGB screens, then OpenCV's luma; ale: the max of ALE's grey screens.
    for pipeline in [FramePipeline::Sb3, FramePipeline::Ale] {
        let config = AtariConfig {
            noop_max: 0,
            fire_reset: false,
            episodic_life: false,
            frame_stack: 1,
            frame_pipeline: pipeline,
            ..Default::default()
        };
        let mut env = make_atari_with("SpaceInvadersNoFrameskip-v4", config).unwrap();
        let mut raw = make_atari_with("SpaceInvadersNoFrameskip-v4", AtariConfig::raw()).unwrap();
        env.reset(Some(0));
        raw.reset(Some(0));
        let mut resize = AreaResize::new(SCREEN_HEIGHT, SCREEN_WIDTH, 84, 84);
        let mut rgb = vec![0u8; SCREEN_HEIGHT * SCREEN_WIDTH * 3];
        for a in random_actions(60, 6, 2) {
            let (obs, step) = env.step(Action::Discrete(a)).unwrap();
            let (mut grey, mut colour) = (Vec::new(), Vec::new());
            let mut raw_reward = 0.0;
            for _ in 0..4 {
                let (f, s) = raw.step(Action::Discrete(a)).unwrap();
                raw.render_rgb(&mut rgb);
                raw_reward += s.reward;
                grey.push(f);
                colour.push(rgb.clone());
            }
            let pooled: Vec<u8> = match pipeline {
                FramePipeline::Ale => grey[2].iter().zip(&grey[3]).map(|(x, y)| *x.max(y)).collect(),
                FramePipeline::Sb3 => colour[2]
                    .chunks_exact(3)
                    .zip(colour[3].chunks_exact(3))
                    .map(|(x, y)| luma(x[0].max(y[0]), x[1].max(y[1]), x[2].max(y[2])))
                    .collect(),
            };
            let mut expected = vec![0u8; 84 * 84];
            resize.apply(&pooled, &mut expected);
            assert_eq!(obs, expected, "{pipeline:?}");
            assert_eq!(step.reward, sign(raw_reward));
            if step.done() {
                break;
            }
        }
    }
}

#[test]
fn episodic_life_ends_episodes_at_life_loss_and_reports_the_full_game_score() {
    let mut env = make_atari("BreakoutNoFrameskip-v4").unwrap();
    let mut raw_twin =
        make_atari_with("BreakoutNoFrameskip-v4", AtariConfig { clip_reward: false, ..Default::default() }).unwrap();
    let (_, info) = env.reset(Some(5));
    raw_twin.reset(Some(5));
    assert_eq!(info.lives, Some(5));
    let (mut life_losses, mut clipped_sum, mut raw_sum) = (0, 0.0, 0.0);
    let mut rng = rand_pcg::Pcg64::seed_from_u64(3);
    for _ in 0..20_000 {
        let a = rng.random_range(0..4);
        let (_, step) = env.step(Action::Discrete(a)).unwrap();
        let (_, raw) = raw_twin.step(Action::Discrete(a)).unwrap();
        assert!([-1.0, 0.0, 1.0].contains(&step.reward));
        assert_eq!(step.reward, sign(raw.reward));
        clipped_sum += step.reward;
        raw_sum += raw.reward;
        if step.terminated {
            match step.info.episode {
                None => {
                    life_losses += 1;
                    assert!(step.info.lives.unwrap() > 0, "a life loss, not the game's end");
                    let (_, info) = env.reset(None);
                    raw_twin.reset(None);
                    assert_eq!(info.lives, step.info.lives, "the game goes on after a life loss");
                }
                Some(ep) => {
                    assert_eq!(life_losses, 4, "Breakout has 5 lives");
                    assert_eq!(ep.ret, raw_sum, "info.episode has the raw full-game score");
                    assert!(raw_sum >= clipped_sum);
                    let (_, info) = env.reset(None);
                    assert_eq!(info.lives, Some(5), "a new game after game over");
                    return;
                }
            }
        }
    }
    panic!("no game over in 20,000 steps");
}

#[test]
fn stacks_are_oldest_first_and_refilled_on_reset() {
    let mut env = make_atari("PongNoFrameskip-v4").unwrap();
    let (obs, _) = env.reset(Some(0));
    let n = 84 * 84;
    for i in 1..4 {
        assert_eq!(obs[..n], obs[i * n..(i + 1) * n], "the reset frame fills the stack");
    }
    let (o1, _) = env.step(Action::Discrete(2)).unwrap();
    let (o2, _) = env.step(Action::Discrete(3)).unwrap();
    assert_eq!(o2[..3 * n], o1[n..], "each step shifts the stack by one frame");
    let (r, _) = env.reset(None);
    assert_eq!(r[..n], r[3 * n..], "reset refills the stack");
}

#[test]
fn same_seed_same_game_and_sticky_actions_depend_on_the_seed() {
    let play = |id: &str, seed: u64| -> Vec<Vec<u8>> {
        let mut env = make_atari(id).unwrap();
        env.reset(Some(seed));
        random_actions(200, 4, 9).into_iter().map(|a| env.step(Action::Discrete(a)).unwrap().0).collect()
    };
    assert_eq!(play("BreakoutNoFrameskip-v4", 1), play("BreakoutNoFrameskip-v4", 1));
    assert_eq!(play("ALE/Breakout-v5", 1), play("ALE/Breakout-v5", 1));
    assert_ne!(play("ALE/Breakout-v5", 1), play("ALE/Breakout-v5", 2));
}

#[test]
fn vector_pools_of_emulators_are_deterministic_whatever_the_thread_count() {
    let run = |env: &mut dyn VecEnv<Obs = u8>| -> Vec<u8> {
        env.reset(Some(7)).unwrap();
        let mut out = Vec::new();
        for t in 0..40 {
            let actions: Vec<i64> = (0..4).map(|i| ((t + i) % 6) as i64).collect();
            let b = env.step(Actions::Discrete(&actions)).unwrap();
            out.extend_from_slice(&b.obs);
        }
        out
    };
    let reference = run(&mut SyncVecEnv::from_fn(4, |_| make_atari("PongNoFrameskip-v4")).unwrap());
    for threads in [1, 2, 4] {
        let mut pool = ThreadedVecEnv::new(4, threads, |_| make_atari("PongNoFrameskip-v4")).unwrap();
        assert_eq!(run(&mut pool), reference, "{threads} threads");
    }
}

#[test]
fn emulators_reseeded_in_parallel_do_not_race() {
    // ALE 0.6's settings and ROM loading share global state; seeded resets reload ROMs in every worker at once.
    let mut pool = ThreadedVecEnv::new(8, 2, |_| make_atari("BreakoutNoFrameskip-v4")).unwrap();
    for seed in 0..25 {
        let b = pool.reset(Some(seed)).unwrap();
        assert_eq!(b.obs.len(), 8 * 4 * 84 * 84);
        pool.step(Actions::Discrete(&[1; 8])).unwrap();
    }
}

#[test]
fn the_async_pool_gives_each_emulator_its_synchronous_frames() {
    // Env i's action at its step t is (t + i) % 6 in both runs; the async pool returns 2 of 4 envs per recv.
    let steps = 40;
    let mut sync = SyncVecEnv::from_fn(4, |_| make_atari("PongNoFrameskip-v4")).unwrap();
    let mut want: Vec<Vec<Vec<u8>>> = (0..4).map(|i| vec![sync.reset(Some(7)).unwrap().obs(i).to_vec()]).collect();
    for t in 0..steps {
        let actions: Vec<i64> = (0..4).map(|i| ((t + i) % 6) as i64).collect();
        let b = sync.step(Actions::Discrete(&actions)).unwrap();
        (0..4).for_each(|i| want[i].push(b.obs(i).to_vec()));
    }
    let mut pool = AsyncVecEnv::new(4, 2, 2, |_| make_atari("PongNoFrameskip-v4")).unwrap();
    pool.async_reset(Some(7)).unwrap();
    let mut got: Vec<Vec<Vec<u8>>> = vec![Vec::new(); 4];
    while got.iter().any(|g| g.len() <= steps) {
        let b = pool.recv().unwrap();
        let actions: Vec<i64> = b
            .env_ids
            .iter()
            .enumerate()
            .map(|(row, &i)| {
                got[i].push(b.obs(row).to_vec());
                ((got[i].len() - 1 + i) % 6) as i64
            })
            .collect();
        pool.send_received(Actions::Discrete(&actions)).unwrap();
    }
    for i in 0..4 {
        assert!(got[i][..=steps] == want[i][..], "env {i}");
    }
}

#[test]
fn snapshots_resume_a_game_exactly_and_corrupt_ones_are_refused() {
    // Sticky actions (v5) draw from ALE's generator, so this also checks that it is saved with the console.
    for id in ["ALE/Breakout-v5", "SeaquestNoFrameskip-v4"] {
        let mut env = make_atari(id).unwrap();
        let n = match env.action_space() {
            rlx_envs::Space::Discrete { n, .. } => *n,
            _ => unreachable!(),
        };
        let actions = random_actions(600, n, 5);
        let mut obs = vec![0u8; env.observation_space().flat_dim()];
        env.reset_into(Some(11), &mut obs);
        let mut play = |env: &mut rlx_envs::atari::AtariEnv, actions: &[i64]| -> Vec<(Vec<u8>, f64, bool, u32)> {
            actions
                .iter()
                .map(|&a| {
                    let step = env.step_into(Action::Discrete(a), &mut obs).unwrap();
                    if step.done() {
                        env.reset_into(None, &mut obs);
                    }
                    (obs.clone(), step.reward, step.terminated, env.lives())
                })
                .collect()
        };
        play(&mut env, &actions[..100]);
        let snapshot = env.snapshot().unwrap();
        let want = play(&mut env, &actions[100..]);
        let mut fresh = make_atari(id).unwrap();
        fresh.reset_into(Some(999), &mut vec![0u8; fresh.observation_space().flat_dim()]);
        fresh.restore(&snapshot).unwrap();
        assert!(play(&mut fresh, &actions[100..]) == want, "{id}: the restored env must replay the same game");
        assert!(want.iter().any(|s| s.1 != 0.0), "{id}: the replay must score");

        let mut corrupt = snapshot.clone();
        let text = corrupt["ale_state"].as_str().unwrap().to_string();
        let flipped = if &text[40..42] == "00" { "ff" } else { "00" };
        corrupt["ale_state"] = format!("{}{flipped}{}", &text[..40], &text[42..]).into();
        let err = fresh.restore(&corrupt).unwrap_err().to_string();
        assert!(err.contains("corrupt"), "{err}");
        let mut pong = make_atari("PongNoFrameskip-v4").unwrap();
        assert!(pong.snapshot().unwrap_err().to_string().contains("before its first reset"));
        pong.reset_into(Some(0), &mut vec![0u8; pong.observation_space().flat_dim()]);
        let other = pong.snapshot().unwrap();
        assert!(fresh.restore(&other).unwrap_err().to_string().contains("taken from"));
    }
}

#[test]
fn an_async_pool_dropped_with_envs_in_flight_shuts_down_cleanly() {
    // Workers take each other's jobs, so one may still be stepping another's env when the pool is dropped: envs
    // must outlive every worker's loop (this crashed before they did).
    for _ in 0..3 {
        let mut pool = AsyncVecEnv::new(8, 2, 4, |_| make_atari("BreakoutNoFrameskip-v4")).unwrap();
        pool.async_reset(Some(1)).unwrap();
        for _ in 0..3 {
            pool.recv().unwrap();
            pool.send_received(Actions::Discrete(&[1, 2, 3, 0])).unwrap();
        }
        drop(pool);
    }
}
