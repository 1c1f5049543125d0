//! `rlx eval RUN_DIR`: plays N episodes with the run's final checkpoint and prints the return's mean and std.

use crate::envs::{make_vec_env, RunEnv, VecEnvSpec};
use crate::train::{read_config, CHECKPOINT_FILE};
use anyhow::{bail, Context, Result};
use rlx_agents::checkpoint;
use rlx_agents::device::DeviceChoice;
use rlx_agents::policy::ActorCritic;
use rlx_agents::ppo::load_policy_weights;
use rlx_envs::vector::{VecEnv, VecNormalize, VecNormalizeConfig, VecNormalizeState};
use rlx_envs::Space;
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

    // One env on this thread, built as training built them (Atari: the same preprocessing; the episode return
    // is the full-game raw score).
    let spec = VecEnvSpec {
        env_id: &config.env_id,
        n_envs: 1,
        threads: 1,
        normalize_obs: false,
        normalize_reward: false,
        gamma: config.gamma,
        frame_pipeline: config.frame_pipeline,
    };
    let seed = seed.unwrap_or(config.seed + 10_000);
    let policy_for = |observation: &Space, action: &Space| -> Result<ActorCritic> {
        let mut policy = ActorCritic::new(observation, action, &config.policy(), device)?;
        load_policy_weights(&mut policy, &loaded.tensors)
            .map_err(|e| anyhow::anyhow!("checkpoint {}: {e}", path.display()))?;
        Ok(policy)
    };
    let returns = match make_vec_env(&spec)? {
        RunEnv::Vector(env) => {
            // Observation statistics from training, frozen; rewards are not normalized (returns are raw anyway).
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
            play(env, &policy_for, episodes, deterministic, seed)?
        }
        RunEnv::Frames(env) => play(env, &policy_for, episodes, deterministic, seed)?,
    };
    let mean = returns.iter().sum::<f64>() / episodes as f64;
    let std = (returns.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / episodes as f64).sqrt();
    println!("episodes {episodes} ({})", if deterministic { "deterministic" } else { "stochastic" });
    println!("mean_return {mean:.3}");
    println!("std {std:.3}");
    Ok(())
}

/// Plays `episodes` episodes on `env` (one env) with the policy `policy_for` builds for its spaces; returns the
/// episode returns.
fn play<V: VecEnv>(
    mut env: V,
    policy_for: &dyn Fn(&Space, &Space) -> Result<ActorCritic>,
    episodes: usize,
    deterministic: bool,
    seed: u64,
) -> Result<Vec<f64>>
where
    V::Obs: tch::kind::Element,
{
    let policy = policy_for(env.single_observation_space(), env.single_action_space())?;
    let mut returns = Vec::with_capacity(episodes);
    let mut rng = <rand_pcg::Pcg64 as rand::SeedableRng>::seed_from_u64(0);
    let mut obs = env.reset(Some(seed))?.obs.clone();
    let mut discrete = Vec::new();
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
        let batch = env.step(policy.action_kind.env_actions(&action, &mut discrete))?;
        if let Some(ep) = batch.infos[0].episode {
            returns.push(ep.ret);
        }
        obs.copy_from_slice(&batch.obs);
    }
    Ok(returns)
}
