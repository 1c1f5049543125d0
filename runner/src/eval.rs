//! `rlx eval RUN_DIR`: plays N episodes with the run's final checkpoint and prints the return's mean and std.

use crate::train::{read_config, CHECKPOINT_FILE};
use anyhow::{bail, Context, Result};
use rlx_agents::checkpoint;
use rlx_agents::device::DeviceChoice;
use rlx_agents::policy::ActorCritic;
use rlx_agents::ppo::load_policy_weights;
use rlx_envs::make;
use rlx_envs::vector::{SyncVecEnv, VecEnv, VecNormalize, VecNormalizeConfig, VecNormalizeState};
use rlx_envs::wrappers::RecordEpisodeStatistics;
use std::path::Path;

pub fn run(
    run_dir: &Path,
    episodes: usize,
    deterministic: bool,
    seed: Option<u64>,
    device: DeviceChoice,
) -> Result<()> {
    if episodes == 0 {
        bail!("--episodes must be at least 1");
    }
    let config = read_config(run_dir)?;
    let path = run_dir.join(CHECKPOINT_FILE);
    let loaded = checkpoint::load(&path)?;
    let device = device.resolve()?;

    let env = SyncVecEnv::from_fn(1, |_| Ok(RecordEpisodeStatistics::new(make(&config.env_id)?)))?;
    let mut policy =
        ActorCritic::new(env.single_observation_space(), env.single_action_space(), &config.policy(), device)?;
    load_policy_weights(&mut policy, &loaded.tensors)
        .map_err(|e| anyhow::anyhow!("checkpoint {}: {e}", path.display()))?;

    // Observation statistics from training, frozen; rewards are not normalized (we report raw returns anyway).
    let mut env = VecNormalize::new(
        env,
        VecNormalizeConfig { norm_obs: config.normalize_obs, norm_reward: false, ..Default::default() },
    );
    if config.normalize_obs {
        let saved = &loaded.state["env"]["normalize"];
        let mut state: VecNormalizeState =
            serde_json::from_value(saved.clone()).context("checkpoint has no normalization statistics")?;
        state.returns = vec![0.0];
        state.config = env.state().config.clone();
        env.load_state(state)?;
    }
    env.set_training(false);

    let mut returns = Vec::with_capacity(episodes);
    let mut rng = <rand_pcg::Pcg64 as rand::SeedableRng>::seed_from_u64(0);
    let mut obs = env.reset(Some(seed.unwrap_or(config.seed + 10_000)))?.obs.clone();
    while returns.len() < episodes {
        let input = policy.obs_tensor(&obs, 1);
        let action = tch::no_grad(|| {
            let (dist, _) = policy.forward(&input);
            if deterministic {
                dist.mode()
            } else {
                dist.sample(&mut rng)
            }
        });
        let action = Vec::<f32>::try_from(action.to_device(tch::Device::Cpu).reshape([-1]))?;
        let mut discrete = Vec::new();
        let batch = env.step(policy.action_kind.env_actions(&action, &mut discrete))?;
        if let Some(ep) = batch.infos[0].episode {
            returns.push(ep.ret);
        }
        obs = batch.obs.clone();
    }
    let mean = returns.iter().sum::<f64>() / episodes as f64;
    let std = (returns.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / episodes as f64).sqrt();
    println!("episodes {episodes} ({})", if deterministic { "deterministic" } else { "stochastic" });
    println!("mean_return {mean:.3}");
    println!("std {std:.3}");
    Ok(())
}
