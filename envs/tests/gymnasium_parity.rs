//! Parity with Gymnasium: every classic-control env, from many initial states (reset range, wide ranges, near
//! the termination bounds) under random actions, over whole episodes. Observations agree to 1e-5 (in practice bit
//! for bit: the dynamics follow Gymnasium's expression order and NumPy's types), physical states to 1e-9, and
//! rewards, `terminated` and `truncated` at every step.
//!
//! The trajectories come from real Gymnasium, run now by `gymnasium_parity.py` with the project's venv python
//! (`RLX_PYTHON`, set by `scripts/test`; the venv gets Gymnasium from `requirements/peers.txt`).

use rlx_envs::{make, Action, Env};
use serde::Deserialize;

mod common;

#[derive(Deserialize)]
struct Episode {
    seed: u64,
    state: Vec<f64>,
    actions: Vec<serde_json::Value>,
    obs: Vec<Vec<f32>>,
    /// Gymnasium's `env.unwrapped.state` after each step.
    states: Vec<Vec<f64>>,
    rewards: Vec<f64>,
    terminated: Vec<bool>,
    truncated: Vec<bool>,
}

/// The Gymnasium version pinned in requirements/peers.txt.
fn pinned_gymnasium() -> String {
    let reqs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../requirements/peers.txt")).unwrap();
    reqs.lines()
        .find_map(|l| l.strip_prefix("gymnasium=="))
        .expect("gymnasium pinned in requirements/peers.txt")
        .trim()
        .to_string()
}

#[test]
fn classic_control_matches_gymnasium() {
    let recording: common::Recording<Episode> = common::record("gymnasium_parity", &[]);
    assert_eq!(recording.gymnasium, pinned_gymnasium(), "compared against another Gymnasium than the pinned one");
    println!("compared against Gymnasium {} (NumPy {})", recording.gymnasium, recording.numpy);
    assert_eq!(recording.envs.len(), 5);

    for (id, episodes) in &recording.envs {
        let mut env = make(id).unwrap();
        let (mut steps, mut worst, mut worst_state) = (0usize, 0.0f32, 0.0f64);
        for (k, ep) in episodes.iter().enumerate() {
            env.reset(Some(ep.seed));
            env.set_state(&ep.state).unwrap();
            for (t, action) in ep.actions.iter().enumerate() {
                let continuous: Vec<f32>;
                let action = match action {
                    serde_json::Value::Array(values) => {
                        continuous = values.iter().map(|v| v.as_f64().unwrap() as f32).collect();
                        Action::Continuous(&continuous)
                    }
                    v => Action::Discrete(v.as_i64().unwrap()),
                };
                let (obs, step) = env.step(action).unwrap();
                let at = format!("{id} episode {k} step {t}");
                for (a, b) in obs.iter().zip(&ep.obs[t]) {
                    let diff = (a - b).abs();
                    worst = worst.max(diff);
                    assert!(diff <= 1e-5, "{at}: obs {obs:?} vs gymnasium {:?}", ep.obs[t]);
                }
                for (a, b) in env.state().unwrap().iter().zip(&ep.states[t]) {
                    worst_state = worst_state.max((a - b).abs());
                    assert!(
                        (a - b).abs() <= 1e-9 * b.abs().max(1.0),
                        "{at}: state {:?} vs gymnasium {:?}",
                        env.state(),
                        ep.states[t]
                    );
                }
                let tolerance = 1e-9 * ep.rewards[t].abs().max(1.0);
                assert!(
                    (step.reward - ep.rewards[t]).abs() <= tolerance,
                    "{at}: reward {} vs {}",
                    step.reward,
                    ep.rewards[t]
                );
                assert_eq!(step.terminated, ep.terminated[t], "{at}: terminated");
                assert_eq!(step.truncated, ep.truncated[t], "{at}: truncated");
                steps += 1;
            }
        }
        println!(
            "{id}: {} episodes, {steps} steps, max |obs diff| {worst:e}, max |state diff| {worst_state:e}",
            episodes.len()
        );
    }
}
