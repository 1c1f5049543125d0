//! Parity with Gymnasium: every classic-control env, from many initial states (the reset range, uniformly random
//! valid states, states near the termination bounds) under random actions, over whole episodes. Observations,
//! physical states and rewards agree bit for bit at every step, and so do `terminated` and `truncated`: the dynamics
//! follow Gymnasium's expression order and NumPy's types, including its scalar `x**2`, which is libm's `pow` and not
//! `x * x` (an exact comparison is what catches that: Pendulum's reward differed by one bit on ~1% of steps).
//!
//! The episodes start from float64 states (`env.unwrapped.state = float64 array`). Writing states into the float32
//! array that Gymnasium's Acrobot keeps after `reset()` (`state[:] = s`) rounds them to float32, and the two envs
//! then start from different states and drift apart within a few steps.
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
        let mut steps = 0usize;
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
                assert_eq!(obs, ep.obs[t], "{at}: obs");
                assert_eq!(env.state().unwrap(), ep.states[t], "{at}: state");
                assert_eq!(step.reward, ep.rewards[t], "{at}: reward");
                assert_eq!(step.terminated, ep.terminated[t], "{at}: terminated");
                assert_eq!(step.truncated, ep.truncated[t], "{at}: truncated");
                steps += 1;
            }
        }
        println!("{id}: {} episodes, {steps} steps, bit for bit", episodes.len());
    }
}
