//! PPO's rollout and whole update against Stable-Baselines3's own code, live (SB3 2.9.2 through
//! `tests/reference/ppo_update_parity.py` with `RLX_PYTHON`).
//!
//! The rollout: rlx collects its first rollout on Breakout; SB3's `collect_rollouts()`, on `make_atari_env` with the
//! same seeds and rlx's initial weights, made to take the same actions, stores the same frames, rewards and episode
//! starts, the same values and log-probabilities, and the same advantages.
//! The update: after one ordinary iteration rlx collects a second rollout; its state at that point (the weights,
//! Adam's moments, the rollout, the last observations) and the minibatch order of each epoch go to SB3, which fills
//! its RolloutBuffer with the rollout and runs `PPO.train()`. GAE's advantages and returns, the update's logged
//! statistics and every parameter after the 16 optimizer steps agree to float tolerance: the learner is SB3's, not
//! only its first step.

use rand::seq::SliceRandom;
use rlx_agents::device::DeviceChoice;
use rlx_agents::logger::Logger;
use rlx_agents::ppo::{Ppo, PpoConfig};
use rlx_envs::atari::{make_atari_with, AtariConfig, StackPadding};
use rlx_envs::vector::SyncVecEnv;
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use tch::Tensor;

/// rl-zoo3's Atari preset, cut to a rollout of 4 envs x 64 steps in minibatches of 64 (4 per epoch, 4 epochs).
fn config() -> PpoConfig {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../presets/ppo/atari.toml")).unwrap();
    let preset: PpoConfig = toml::from_str(&text).unwrap();
    PpoConfig {
        env_id: "BreakoutNoFrameskip-v4".into(),
        seed: 3,
        n_envs: 4,
        n_steps: 64,
        batch_size: 64,
        env_threads: 1,
        torch_threads: 1,
        total_timesteps: 2048,
        device: DeviceChoice::Cpu,
        ..preset
    }
}

#[test]
fn a_rollout_and_a_whole_update_match_sb3() {
    let config = config();
    assert_eq!((config.n_epochs, config.ent_coef, config.vf_coef), (4, 0.01, 0.5), "the script assumes these");
    let frames = AtariConfig { stack_padding: StackPadding::Zeros, ..AtariConfig::default() };
    let env = SyncVecEnv::from_fn(config.n_envs, |_| make_atari_with(&config.env_id, frames.clone())).unwrap();
    let mut agent = Ppo::new(config.clone(), env).unwrap();
    let mut logger = Logger::disabled();

    // The first rollout, compared with SB3's; an ordinary update; the rollout whose update is compared.
    let initial: Vec<(String, Tensor)> = agent
        .policy
        .vs
        .variables()
        .into_iter()
        .map(|(name, t)| (format!("first.w.{name}"), t.detach().copy()))
        .collect();
    agent.collect_rollouts(&mut logger).unwrap();
    let first = agent.buffer.clone();
    agent.train(1.0 - agent.global_step as f64 / config.total_timesteps as f64).unwrap();
    agent.collect_rollouts(&mut logger).unwrap();
    let progress_remaining = 1.0 - agent.global_step as f64 / config.total_timesteps as f64;
    let size = config.n_steps * config.n_envs;
    let episode_starts = agent.buffer.episode_starts.iter().skip(config.n_envs).filter(|&&s| s > 0.0).count();
    assert!(episode_starts > 0, "the rollout crosses a lost life, so GAE's episode boundaries are exercised");

    // The minibatch orders train() will draw: the same generator, shuffled as train() shuffles.
    let mut rng = agent.rng.clone();
    let mut indices: Vec<i64> = (0..size as i64).collect();
    let orders: Vec<Tensor> = (0..config.n_epochs)
        .map(|_| {
            indices.shuffle(&mut rng);
            Tensor::from_slice(&indices)
        })
        .collect();

    // Copies: the variables themselves are views the update writes into.
    let before: HashMap<String, Tensor> =
        agent.policy.vs.variables().into_iter().map(|(name, t)| (name, t.detach().copy())).collect();
    let mut names: Vec<String> = before.keys().cloned().collect();
    names.sort();
    let (adam, adam_step) = agent.optimizer.state();
    let adam: HashMap<String, Tensor> = adam.into_iter().map(|(name, t)| (name, t.copy())).collect();
    // The optimizer's flat moments, cut back into per-parameter tensors (it orders parameters by name too).
    let (mut m, mut v, mut offset) = (HashMap::new(), HashMap::new(), 0);
    for name in &names {
        let (numel, shape) = (before[name].numel() as i64, before[name].size());
        m.insert(name.clone(), adam["m"].narrow(0, offset, numel).reshape(&shape));
        v.insert(name.clone(), adam["v"].narrow(0, offset, numel).reshape(&shape));
        offset += numel;
    }

    let b = &agent.buffer;
    let obs_shape = [size as i64, 4, 84, 84];
    let floats = |xs: &[f32]| Tensor::from_slice(xs);
    let last_dones: Vec<f32> = agent.last_episode_starts.iter().map(|&d| d as u8 as f32).collect();
    let settings = Tensor::from_slice(&[
        config.n_steps as f64,
        config.n_envs as f64,
        config.batch_size as f64,
        config.n_epochs as f64,
        progress_remaining,
        config.seed as f64,
    ]);
    let mut tensors: Vec<(String, Tensor)> = vec![
        ("obs".into(), Tensor::from_slice(&b.obs).reshape(obs_shape)),
        ("actions".into(), floats(&b.actions)),
        ("rewards".into(), floats(&b.rewards)),
        ("episode_starts".into(), floats(&b.episode_starts)),
        ("values".into(), floats(&b.values)),
        ("log_probs".into(), floats(&b.log_probs)),
        ("last_obs".into(), Tensor::from_slice(&agent.last_obs).reshape([config.n_envs as i64, 4, 84, 84])),
        ("last_dones".into(), floats(&last_dones)),
        ("orders".into(), Tensor::stack(&orders, 0)),
        ("adam_step".into(), Tensor::from_slice(&[adam_step])),
        ("settings".into(), settings),
        ("first.actions".into(), floats(&first.actions)),
    ];
    tensors.extend(initial);
    for name in &names {
        tensors.push((format!("w.{name}"), before[name].shallow_clone()));
        tensors.push((format!("m.{name}"), m[name].shallow_clone()));
        tensors.push((format!("v.{name}"), v[name].shallow_clone()));
    }
    let (advantages, returns) = (floats(&b.advantages), floats(&b.returns));

    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ppo_update_parity");
    std::fs::create_dir_all(&dir).unwrap();
    let (input, output) = (dir.join("in.npz"), dir.join("out.npz"));
    Tensor::write_npz(&tensors, &input).unwrap();
    let stats = agent.train(progress_remaining).unwrap();

    let python = std::env::var("RLX_PYTHON").expect("RLX_PYTHON is unset: run the tests through scripts/test");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/reference/ppo_update_parity.py");
    let status = Command::new(&python).arg(script).arg(&input).arg(&output).status().unwrap();
    assert!(status.success(), "{script} failed: is stable-baselines3 installed for {python}?");
    let sb3: HashMap<String, Tensor> = Tensor::read_npz(&output).unwrap().into_iter().collect();

    // The first rollout: the envs and the bookkeeping (SB3's values and log-probabilities are its own).
    let first_obs = Tensor::from_slice(&first.obs).reshape(obs_shape);
    assert!(first_obs.equal(&sb3["first.observations"]), "SB3 stored other frames");
    for (key, ours, tolerance) in [
        ("rewards", &first.rewards, 0.0),
        ("episode_starts", &first.episode_starts, 0.0),
        ("values", &first.values, 1e-5),
        ("log_probs", &first.log_probs, 1e-5),
        ("advantages", &first.advantages, 1e-4),
        ("returns", &first.returns, 1e-4),
    ] {
        let error = abs_max(&(floats(ours) - &sb3[&format!("first.{key}")]));
        println!("first rollout {key}: largest difference {error:.2e}");
        assert!(error <= tolerance, "first rollout {key} differ from SB3's by {error}");
    }
    let rewarded = first.rewards.iter().filter(|&&r| r != 0.0).count();
    println!("first rollout: {rewarded} rewards, {} episode starts", first.episode_starts.iter().sum::<f32>());

    // GAE from the same rollout: SB3's value of the last observations is computed by SB3 from rlx's weights.
    for (key, ours) in [("advantages", &advantages), ("returns", &returns)] {
        let error = abs_max(&(ours - &sb3[key]));
        println!("{key}: largest difference {error:.2e}");
        assert!(error < 1e-4, "{key} differ from SB3's by {error}");
    }

    // The update's statistics, as SB3 logs them (means over the minibatches).
    let logged = |key: &str| sb3[&format!("log.train/{key}")].double_value(&[0]);
    for (key, ours, tolerance) in [
        ("learning_rate", stats.learning_rate, 1e-12),
        ("clip_range", stats.clip_range, 1e-12),
        ("policy_gradient_loss", stats.policy_loss, 1e-4),
        ("value_loss", stats.value_loss, 1e-4),
        ("entropy_loss", -stats.entropy, 1e-4),
        ("approx_kl", stats.approx_kl, 1e-4),
        ("clip_fraction", stats.clip_fraction, 1e-3),
        ("explained_variance", stats.explained_variance, 1e-4),
    ] {
        let theirs = logged(key);
        println!("{key}: rlx {ours:.8}, SB3 {theirs:.8}");
        assert!((ours - theirs).abs() <= tolerance * theirs.abs().max(1e-2), "{key}: rlx {ours} vs SB3 {theirs}");
    }

    // Every parameter after the 16 optimizer steps, against how far the update moved it. Adam's step is about lr in
    // size whatever the gradient's, so where a weight's gradient is a near-cancelling sum, summation order (oneDNN's
    // channels-last kernels here, PyTorch's default layout there) changes its steps: a single weight may differ by a
    // few percent of the largest change while the layer as a whole agrees to 1e-3. A wrong advantage, schedule or
    // Adam detail moves whole layers by far more.
    let updated = agent.policy.vs.variables();
    for name in &names {
        let theirs = &sb3[&format!("updated.{name}")];
        let difference = &updated[name] - theirs;
        let moved = theirs - &before[name];
        let relative = difference.norm().double_value(&[]) / moved.norm().double_value(&[]);
        let (largest, moved_most) = (abs_max(&difference), abs_max(&moved));
        println!(
            "{name}: difference {relative:.1e} of the update's change (largest {largest:.1e} of {moved_most:.1e})"
        );
        assert!(relative < 1e-3, "{name}: parameters after the update differ from SB3's by {relative} of the change");
        assert!(largest < 0.1 * moved_most, "{name}: a parameter differs from SB3's by {largest}");
    }
}

fn abs_max(t: &Tensor) -> f64 {
    t.abs().max().double_value(&[])
}
