//! PPO learns: CartPole-v1 with the rl-zoo3 preset reaches the solved score, and a Pendulum-v1 run improves.

use rlx_agents::logger::Logger;
use rlx_agents::ppo::{Ppo, PpoConfig};
use rlx_envs::vector::{Actions, SyncVecEnv, VecEnv};
use rlx_envs::wrappers::RecordEpisodeStatistics;
use rlx_envs::{make, BoxedEnv};

fn preset(name: &str) -> PpoConfig {
    let text = std::fs::read_to_string(format!("{}/../presets/ppo/{name}.toml", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let mut config: PpoConfig = toml::from_str(&text).unwrap();
    config.device = rlx_agents::device::DeviceChoice::Cpu;
    // One intra-op thread: with LibTorch's default pool a loaded machine can split a kernel's work differently,
    // and a fixed seed would then not give one fixed run.
    config.torch_threads = 1;
    config
}

fn vec_env(id: &str, n: usize) -> SyncVecEnv<RecordEpisodeStatistics<BoxedEnv>> {
    SyncVecEnv::from_fn(n, |_| Ok(RecordEpisodeStatistics::new(make(id)?))).unwrap()
}

/// Mean raw return of `episodes` deterministic episodes on a fresh env seeded apart from training.
fn evaluate<V: VecEnv<Obs = f32>>(agent: &mut Ppo<V>, id: &str, episodes: usize) -> f64 {
    let mut env = vec_env(id, 1);
    let mut obs = env.reset(Some(10_000)).unwrap().obs.clone();
    let mut returns = Vec::new();
    while returns.len() < episodes {
        let action = agent.predict(&obs, 1, true);
        let discrete = [action[0] as i64];
        let actions = if id == "Pendulum-v1" { Actions::Continuous(&action) } else { Actions::Discrete(&discrete) };
        let b = env.step(actions).unwrap();
        if let Some(ep) = b.infos[0].episode {
            returns.push(ep.ret);
        }
        obs = b.obs.clone();
    }
    returns.iter().sum::<f64>() / episodes as f64
}

#[test]
fn cartpole_preset_reaches_475_with_a_fixed_seed() {
    let config = preset("CartPole-v1");
    assert_eq!(config.total_timesteps, 100_000, "the rl-zoo3 budget");
    let mut agent = Ppo::new(config, vec_env("CartPole-v1", 8)).unwrap();
    agent.learn(&mut Logger::disabled(), None).unwrap();
    let score = evaluate(&mut agent, "CartPole-v1", 10);
    println!("CartPole-v1 after 1e5 steps: mean return {score}");
    assert!(score >= 475.0, "mean return {score}");
}

#[test]
fn pendulum_smoke_run_learns() {
    let mut config = preset("Pendulum-v1");
    config.total_timesteps = 40_960;
    let mut agent = Ppo::new(config, vec_env("Pendulum-v1", 4)).unwrap();
    let before = evaluate(&mut agent, "Pendulum-v1", 5);
    let mut logger = Logger::disabled();
    agent.learn(&mut logger, None).unwrap();
    let after = evaluate(&mut agent, "Pendulum-v1", 5);
    println!("Pendulum-v1: untrained {before:.0}, after 4e4 steps {after:.0}");
    assert!(after > before + 200.0, "untrained {before}, trained {after}");
}
