//! DQN learns: CartPole-v1 with the rl-zoo3 preset reaches the solved score in its 5e4-step budget, with a fixed
//! seed.
//!
//! DQN on CartPole is seed-sensitive at this budget, in SB3 as here: with the same preset, 8 of rlx's seeds 0-13 and
//! 9 of SB3 2.9.2's solve it (`scripts/bench dqn-cartpole`, results/dqn_cartpole_seeds.md). The test pins seed 7,
//! which solves it, so a change that breaks learning (or the exact replay ratio below) fails it.

use rlx_agents::dqn::{Dqn, DqnConfig};
use rlx_agents::logger::Logger;
use rlx_envs::vector::{Actions, SyncVecEnv, VecEnv};
use rlx_envs::wrappers::RecordEpisodeStatistics;
use rlx_envs::{make, BoxedEnv};

fn preset(name: &str) -> DqnConfig {
    let text = std::fs::read_to_string(format!("{}/../presets/dqn/{name}.toml", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let mut config: DqnConfig = toml::from_str(&text).unwrap();
    config.device = rlx_agents::device::DeviceChoice::Cpu;
    config
}

fn vec_env(n: usize) -> SyncVecEnv<RecordEpisodeStatistics<BoxedEnv>> {
    SyncVecEnv::from_fn(n, |_| Ok(RecordEpisodeStatistics::new(make("CartPole-v1")?))).unwrap()
}

/// Mean raw return of `episodes` greedy episodes on a fresh env seeded apart from training.
fn evaluate<V: VecEnv<Obs = f32>>(agent: &Dqn<V>, episodes: usize) -> f64 {
    let mut env = vec_env(1);
    let mut obs = env.reset(Some(10_000)).unwrap().obs.clone();
    let mut returns = Vec::new();
    while returns.len() < episodes {
        let action = agent.greedy_actions(&obs, 1);
        let b = env.step(Actions::Discrete(&action)).unwrap();
        if let Some(ep) = b.infos[0].episode {
            returns.push(ep.ret);
        }
        obs = b.obs.clone();
    }
    returns.iter().sum::<f64>() / episodes as f64
}

#[test]
fn cartpole_preset_reaches_475_with_a_fixed_seed() {
    let config = DqnConfig { seed: 7, ..preset("CartPole-v1") };
    assert_eq!(config.total_timesteps, 50_000, "the rl-zoo3 budget");
    let mut agent = Dqn::new(config, vec_env(1)).unwrap();
    agent.learn(&mut Logger::disabled(), None).unwrap();
    let score = evaluate(&agent, 10);
    println!("CartPole-v1 after 5e4 steps: mean return {score}, {} gradient steps", agent.progress.gradient_steps);
    assert_eq!(agent.progress.gradient_steps, (50_000 - 1_000) / 256 * 128 + 128, "replay ratio set by counts");
    assert!(score >= 475.0, "mean return {score}");
}
