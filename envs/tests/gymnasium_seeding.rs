//! Seeding like Gymnasium: for every classic-control env and many seeds, `reset(seed)` gives Gymnasium's initial
//! observation bit for bit, and a seeded `Space::sample` draws Gymnasium's actions, so the whole seeded random
//! rollout equals Gymnasium's step for step: observations and rewards bit for bit. Gymnasium runs now through `gymnasium_seeding.py` (`RLX_PYTHON`, set
//! by `scripts/test`).

use rlx_envs::{make, Action, NpRandom, Sample};
use serde::Deserialize;

mod common;

#[derive(Deserialize)]
struct Episode {
    seed: u64,
    obs0: Vec<f32>,
    actions: Vec<serde_json::Value>,
    obs: Vec<Vec<f32>>,
    rewards: Vec<f64>,
    terminated: Vec<bool>,
    truncated: Vec<bool>,
}

const SEEDS: usize = 40;
const STEPS: usize = 300;

#[test]
fn seeded_rollouts_equal_gymnasiums_step_for_step() {
    let recording: common::Recording<Episode> =
        common::record("gymnasium_seeding", &[SEEDS.to_string(), STEPS.to_string()]);
    println!("against Gymnasium {} (NumPy {})", recording.gymnasium, recording.numpy);
    assert_eq!(recording.envs.len(), 5);
    for (id, episodes) in &recording.envs {
        let mut env = make(id).unwrap();
        let space = env.action_space().clone();
        let mut steps = 0;
        for ep in episodes {
            let (obs0, _) = env.reset(Some(ep.seed));
            assert_eq!(obs0, ep.obs0, "{id} seed {}: initial observation", ep.seed);
            let mut rng = NpRandom::from_seed(ep.seed);
            for (t, want_action) in ep.actions.iter().enumerate() {
                let at = format!("{id} seed {} step {t}", ep.seed);
                let sample = space.sample(&mut rng);
                let action = match &sample {
                    Sample::Discrete(a) => {
                        assert_eq!(*a, want_action.as_i64().unwrap(), "{at}: sampled action");
                        Action::Discrete(*a)
                    }
                    Sample::Box(v) => {
                        let want: Vec<f32> =
                            want_action.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect();
                        assert_eq!(v, &want, "{at}: sampled action");
                        Action::Continuous(v)
                    }
                    other => panic!("{at}: unexpected sample {other:?}"),
                };
                let (obs, step) = env.step(action).unwrap();
                assert_eq!(obs, ep.obs[t], "{at}: observation");
                assert_eq!(step.reward, ep.rewards[t], "{at}: reward");
                assert_eq!((step.terminated, step.truncated), (ep.terminated[t], ep.truncated[t]), "{at}: episode end");
                steps += 1;
            }
        }
        println!("{id}: {} seeds, {steps} steps bit for bit", episodes.len());
    }
}
