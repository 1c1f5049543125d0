//! PPO's CNN policy against Stable-Baselines3's `ActorCriticCnnPolicy`, live: with rlx's weights loaded into SB3's
//! policy and one identical minibatch of Breakout-shaped frames, the loss terms, every parameter's gradient and
//! the parameters after one whole update (gradient clipping, Adam with eps 1e-5) agree to float tolerance; and
//! rlx's initialization has SB3's per-layer weight statistics. SB3 2.9.2 runs through
//! `tests/reference/ppo_cnn_parity.py` with `RLX_PYTHON` (set by `scripts/test`).

use rlx_agents::device::DeviceChoice;
use rlx_agents::ppo::{Minibatch, Ppo, PpoConfig};
use rlx_envs::atari::make_atari;
use rlx_envs::vector::SyncVecEnv;
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use tch::{Device, Kind, Tensor};

/// rl-zoo3's Atari PPO preset, on one Breakout env.
fn config() -> PpoConfig {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../presets/ppo/atari.toml")).unwrap();
    let preset: PpoConfig = toml::from_str(&text).unwrap();
    PpoConfig {
        env_id: "BreakoutNoFrameskip-v4".into(),
        n_envs: 1,
        env_threads: 1,
        torch_threads: 1,
        device: DeviceChoice::Cpu,
        ..preset
    }
}

/// `a` against `b`: the largest absolute difference over the largest magnitude of `b`.
fn relative_error(a: &Tensor, b: &Tensor) -> f64 {
    let diff = f64::try_from((a - b).abs().max()).unwrap();
    diff / f64::try_from(b.abs().max()).unwrap().max(1e-12)
}

#[test]
fn cnn_policy_loss_gradients_and_update_match_sb3() {
    let config = config();
    let (clip_range, lr) = (0.1, 2.5e-4); // the preset's schedules at their start
    let env = SyncVecEnv::from_fn(1, |_| make_atari("BreakoutNoFrameskip-v4")).unwrap();
    let mut agent = Ppo::new(config.clone(), env).unwrap();

    // One minibatch: random frames, actions and targets; old log-probabilities near the current ones, so some
    // ratios are clipped and some are not.
    tch::manual_seed(7);
    let b = 64;
    let obs = Tensor::randint(256, [b, 4, 84, 84], (Kind::Uint8, Device::Cpu));
    let actions = Tensor::randint(4, [b], (Kind::Int64, Device::Cpu));
    let current = tch::no_grad(|| agent.policy.forward(&obs).0.log_prob(&actions.to_kind(Kind::Float)));
    let minibatch = Minibatch {
        obs: obs.shallow_clone(),
        actions: actions.to_kind(Kind::Float).reshape([b, 1]),
        old_log_prob: &current + Tensor::randn([b], (Kind::Float, Device::Cpu)) * 0.15,
        advantages: Tensor::randn([b], (Kind::Float, Device::Cpu)) * 2.0 + 0.3,
        old_values: Tensor::randn([b], (Kind::Float, Device::Cpu)),
        returns: Tensor::randn([b], (Kind::Float, Device::Cpu)),
    };
    let mut names: Vec<String> = agent.policy.vs.variables().into_keys().collect();
    names.sort();
    let initial: HashMap<String, Tensor> =
        agent.policy.vs.variables().into_iter().map(|(name, t)| (name, t.detach().copy())).collect();

    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ppo_cnn_parity");
    std::fs::create_dir_all(&dir).unwrap();
    let (input, output) = (dir.join("in.npz"), dir.join("out.npz"));
    let settings = Tensor::from_slice(&[clip_range, config.ent_coef, config.vf_coef, config.max_grad_norm, lr]);
    let mut tensors: Vec<(String, Tensor)> =
        names.iter().map(|n| (format!("w.{n}"), initial[n].shallow_clone())).collect();
    for (name, t) in [
        ("obs", &obs),
        ("actions", &actions),
        ("old_log_prob", &minibatch.old_log_prob),
        ("advantages", &minibatch.advantages),
        ("returns", &minibatch.returns),
        ("old_values", &minibatch.old_values),
        ("settings", &settings),
    ] {
        tensors.push((name.to_string(), t.shallow_clone()));
    }
    Tensor::write_npz(&tensors, &input).unwrap();
    let python = std::env::var("RLX_PYTHON").expect("RLX_PYTHON is unset: run the tests through scripts/test");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/reference/ppo_cnn_parity.py");
    let status = Command::new(&python).arg(script).arg(&input).arg(&output).status().unwrap();
    assert!(status.success(), "{script} failed: is stable-baselines3 installed for {python}?");
    let sb3: HashMap<String, Tensor> = Tensor::read_npz(&output).unwrap().into_iter().collect();
    let scalar = |key: &str| sb3[key].double_value(&[0]);

    // The initialization: orthogonal with gain sqrt(2) in NatureCNN, 0.01 for the action head, 1 for the value
    // head, zero biases; per-layer weight std against SB3's own initialization.
    for name in names.iter().filter(|n| n.ends_with("weight")) {
        let (ours, theirs) = (initial[name].std(true).double_value(&[]), scalar(&format!("init_std.{name}")));
        println!("init std {name}: rlx {ours:.6}, SB3 {theirs:.6}");
        assert!((ours / theirs - 1.0).abs() < 0.02, "{name}: init std {ours} vs SB3 {theirs}");
    }
    for name in names.iter().filter(|n| n.ends_with("bias")) {
        assert_eq!(initial[name].abs().sum(Kind::Float).double_value(&[]), 0.0, "{name} starts at zero");
    }

    // The loss terms.
    let losses = agent.minibatch_loss(&minibatch, clip_range, None);
    let ours = [
        ("policy", losses.policy_loss),
        ("value", losses.value_loss),
        ("entropy", losses.entropy_loss),
        ("total", losses.loss.double_value(&[])),
        ("approx_kl", losses.approx_kl),
        ("clip_fraction", losses.clip_fraction),
    ];
    for (key, value) in ours {
        let theirs = scalar(&format!("loss.{key}"));
        println!("loss {key}: rlx {value:.8}, SB3 {theirs:.8}");
        assert!((value - theirs).abs() <= 1e-5 * theirs.abs().max(1e-2), "{key}: rlx {value} vs SB3 {theirs}");
    }
    assert!(losses.clip_fraction > 0.0 && losses.clip_fraction < 1.0, "the batch exercises the clipping");

    // Every parameter's gradient.
    let params: Vec<Tensor> = names.iter().map(|n| agent.policy.vs.variables()[n].shallow_clone()).collect();
    let grads = Tensor::run_backward(&[&losses.loss], &params, false, false);
    for (name, grad) in names.iter().zip(&grads) {
        let error = relative_error(grad, &sb3[&format!("grad.{name}")]);
        println!("gradient {name}: relative error {error:.2e}");
        assert!(error < 1e-4, "{name}: gradient differs from SB3's by {error}");
    }

    // One whole update.
    let (_, stepped) = agent.minibatch_step(&minibatch, lr, clip_range, None).unwrap();
    assert!(stepped);
    let updated = agent.policy.vs.variables();
    for name in &names {
        let theirs = &sb3[&format!("updated.{name}")];
        let error = f64::try_from((&updated[name] - theirs).abs().max()).unwrap();
        let moved = f64::try_from((theirs - &initial[name]).abs().max()).unwrap();
        println!("after one update {name}: largest difference {error:.2e} (the update moved it by up to {moved:.2e})");
        assert!(error < 1e-3 * moved.max(1e-9) + 1e-7, "{name}: updated parameters differ from SB3's by {error}");
    }
}
