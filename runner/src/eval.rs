//! `rlx eval RUN_DIR`: plays N episodes with the run's final checkpoint and prints the return's mean and std.
//!
//! PPO: deterministic (or sampled) actions on the training chain, episodes counted as full games. DQN: the Nature
//! paper's protocol (Mnih et al. 2015): epsilon-greedy with epsilon 0.05, and on Atari no life-loss episodes, up to
//! 30 random no-ops at the start (the env's no-op reset), at most 18,000 emulator frames (5 minutes) per game, the
//! full-game unclipped score, and the human-normalized score from the paper's random and human scores.

use crate::envs::{make_vec_env, RunEnv, VecEnvSpec};
use crate::record::Recorder;
use crate::run_config::RunConfig;
use crate::train::{read_config, CHECKPOINT_FILE};
use anyhow::{bail, Context, Result};
use rand::Rng;
use rlx_agents::checkpoint::{self, Loaded};
use rlx_agents::device::DeviceChoice;
use rlx_agents::dqn::{load_weights, DqnConfig, Evaluator};
use rlx_agents::policy::{ActionKind, ActorCritic};
use rlx_agents::ppo::{load_policy_weights, PpoConfig};
use rlx_agents::qnetwork::QNetwork;
use rlx_agents::AgentError;
use rlx_envs::vector::{VecEnv, VecNormalize, VecNormalizeConfig, VecNormalizeState};
use std::path::Path;
use tch::Device;

/// How `rlx eval` plays.
pub struct EvalArgs {
    pub episodes: usize,
    /// PPO: sample actions instead of the most likely one.
    pub stochastic: bool,
    /// DQN: the exploration rate while evaluating (default 0.05, Nature's).
    pub epsilon: Option<f64>,
    pub seed: Option<u64>,
    pub device: DeviceChoice,
}

/// Nature DQN's random-play and human scores (Mnih et al. 2015, Extended Data Table 2), for the human-normalized
/// score `100 (agent - random) / (human - random)`.
const NATURE_SCORES: &[(&str, f64, f64)] = &[
    ("Alien", 227.8, 6875.0),
    ("Asterix", 210.0, 8503.0),
    ("BeamRider", 363.9, 5775.0),
    ("Breakout", 1.7, 31.8),
    ("Enduro", 0.0, 309.6),
    ("Freeway", 0.0, 29.6),
    ("MsPacman", 307.3, 15693.0),
    ("Pong", -20.7, 9.3),
    ("Qbert", 163.9, 13455.0),
    ("Seaquest", 68.4, 20182.0),
    ("SpaceInvaders", 148.0, 1652.0),
];

/// The game of an Atari id: `PongNoFrameskip-v4` and `ALE/Pong-v5` -> `Pong`.
fn atari_game(env_id: &str) -> Option<&str> {
    env_id.strip_suffix("NoFrameskip-v4").or_else(|| env_id.strip_prefix("ALE/").and_then(|g| g.strip_suffix("-v5")))
}

pub fn run(run_dir: &Path, args: &EvalArgs) -> Result<()> {
    let played = play_run(run_dir, args, None)?;
    let returns = &played.returns;
    let n = returns.len() as f64;
    let mean = returns.iter().sum::<f64>() / n;
    let std = (returns.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / n).sqrt();
    println!("episodes {} ({})", args.episodes, played.how);
    println!("mean_return {mean:.3}");
    println!("std {std:.3}");
    let config = &played.config;
    if let (RunConfig::Dqn(_), Some(game)) = (config, atari_game(config.env_id())) {
        if let Some((_, random, human)) = NATURE_SCORES.iter().find(|(g, _, _)| *g == game) {
            println!(
                "human_normalized {:.1}% (Nature's random {random} and human {human})",
                100.0 * (mean - random) / (human - random)
            );
        }
    }
    Ok(())
}

/// What [`play_run`] played.
pub struct Played {
    pub config: RunConfig,
    /// The full-game returns of the episodes, in order.
    pub returns: Vec<f64>,
    /// How actions were chosen ("deterministic", "epsilon 0.05", ...).
    pub how: String,
}

/// Loads a run's config and final checkpoint and plays `args.episodes` episodes as `rlx eval` does, showing every
/// frame to `recorder` when one is given (`rlx record`).
pub fn play_run(run_dir: &Path, args: &EvalArgs, recorder: Option<&mut Recorder>) -> Result<Played> {
    if args.episodes == 0 {
        bail!("--episodes must be at least 1");
    }
    let config = read_config(run_dir)?;
    let path = run_dir.join(CHECKPOINT_FILE);
    let loaded = checkpoint::load(&path)?;
    checkpoint::check_identity(&loaded.state, config.algo(), config.env_id())
        .map_err(|reason| anyhow::anyhow!("checkpoint {}: {reason}", path.display()))?;
    let device = args.device.resolve()?;
    let seed = args.seed.unwrap_or(config.seed() + 10_000);
    let session = Session { loaded: &loaded, path: &path, seed, device, recorder };
    let (returns, how) = match &config {
        RunConfig::Ppo(c) => (eval_ppo(c, config.eval_spec(), args, session)?, ppo_mode(args)),
        RunConfig::Dqn(c) => {
            let epsilon = args.epsilon.unwrap_or(0.05);
            if !(0.0..=1.0).contains(&epsilon) {
                bail!("--epsilon {epsilon} must be in [0, 1]");
            }
            let spec = VecEnvSpec { nature_evaluation: true, ..config.eval_spec() };
            (eval_dqn(c, spec, (epsilon, args.episodes), session)?, format!("epsilon {epsilon}"))
        }
    };
    Ok(Played { config, returns, how })
}

/// What an evaluation plays with besides the agent's config: its checkpoint, the seed, the device and the
/// recorder (`rlx record`).
struct Session<'a> {
    loaded: &'a Loaded,
    path: &'a Path,
    seed: u64,
    device: Device,
    recorder: Option<&'a mut Recorder>,
}

fn ppo_mode(args: &EvalArgs) -> String {
    if args.stochastic { "stochastic" } else { "deterministic" }.into()
}

/// One env on this thread, built as training built them (Atari: the same preprocessing; the episode return is the
/// full-game raw score), frozen observation statistics.
fn eval_ppo(
    config: &PpoConfig,
    spec: VecEnvSpec<'_>,
    args: &EvalArgs,
    Session { loaded, path, seed, device, recorder }: Session<'_>,
) -> Result<Vec<f64>> {
    let policy_for = |env: &dyn VecEnvSpaces| -> Result<ActorCritic> {
        let mut policy = ActorCritic::new(env.observation(), env.action(), &config.policy(), device)?;
        load_policy_weights(&mut policy, &loaded.tensors)
            .map_err(|e| anyhow::anyhow!("checkpoint {}: {e}", path.display()))?;
        Ok(policy)
    };
    let deterministic = !args.stochastic;
    let mut rng = <rand_pcg::Pcg64 as rand::SeedableRng>::seed_from_u64(0);
    match make_vec_env(&spec)? {
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
            let policy = policy_for(&env)?;
            play(env, args.episodes, seed, &policy.action_kind.clone(), recorder, |obs| {
                ppo_act(&policy, obs, deterministic, &mut rng)
            })
        }
        RunEnv::Frames(env) => {
            let policy = policy_for(&env)?;
            play(env, args.episodes, seed, &policy.action_kind.clone(), recorder, |obs| {
                ppo_act(&policy, obs, deterministic, &mut rng)
            })
        }
    }
}

fn ppo_act<T: tch::kind::Element>(
    policy: &ActorCritic,
    obs: &[T],
    deterministic: bool,
    rng: &mut rand_pcg::Pcg64,
) -> Result<Vec<f32>> {
    let input = policy.obs_tensor(obs, 1);
    let action = tch::no_grad(|| {
        let (dist, _) = policy.forward(&input);
        if deterministic {
            dist.mode()
        } else {
            dist.sample(rng)
        }
    });
    Ok(Vec::<f32>::try_from(action.to_device(Device::Cpu).reshape([-1]))?)
}

/// The Nature protocol (see the module docs) for a DQN run.
fn eval_dqn(
    config: &DqnConfig,
    spec: VecEnvSpec<'_>,
    (epsilon, episodes): (f64, usize),
    Session { loaded, path, seed, device, recorder }: Session<'_>,
) -> Result<Vec<f64>> {
    let env = make_vec_env(&spec)?;
    let (observation, action) = match &env {
        RunEnv::Vector(env) => (env.single_observation_space(), env.single_action_space()),
        RunEnv::Frames(env) => (env.single_observation_space(), env.single_action_space()),
    };
    let mut q = QNetwork::new(observation, action, &config.network(), device)?;
    load_weights(&mut q, &loaded.tensors, "q.").map_err(|e| anyhow::anyhow!("checkpoint {}: {e}", path.display()))?;
    play_q(&q, env, epsilon, episodes, seed, recorder)
}

/// The periodic evaluation of a DQN run (`eval_interval`): `rlx eval`'s Nature protocol with the run's
/// `eval_episodes` and `eval_epsilon`, on an env of its own, seeded by the step it runs at.
pub fn dqn_evaluator(config: &DqnConfig) -> Evaluator {
    let run = RunConfig::Dqn(config.clone());
    let (epsilon, episodes, seed) = (config.eval_epsilon, config.eval_episodes, config.seed);
    Box::new(move |q: &QNetwork, global_step: u64| {
        let spec = VecEnvSpec { nature_evaluation: true, ..run.eval_spec() };
        let env = make_vec_env(&spec).map_err(|e| AgentError::Runtime(format!("evaluation: {e}")))?;
        play_q(q, env, epsilon, episodes, seed + 10_000 + global_step, None)
            .map_err(|e| AgentError::Runtime(format!("evaluation: {e}")))
    })
}

/// Plays `episodes` episodes epsilon-greedily with `q`.
fn play_q(
    q: &QNetwork,
    env: RunEnv,
    epsilon: f64,
    episodes: usize,
    seed: u64,
    recorder: Option<&mut Recorder>,
) -> Result<Vec<f64>> {
    let mut rng = <rand_pcg::Pcg64 as rand::SeedableRng>::seed_from_u64(seed);
    fn act<T: tch::kind::Element>(q: &QNetwork, obs: &[T], epsilon: f64, rng: &mut rand_pcg::Pcg64) -> Vec<f32> {
        if rng.random::<f64>() < epsilon {
            return vec![rng.random_range(0..q.n_actions) as f32];
        }
        let values = tch::no_grad(|| q.forward(&q.obs_tensor(obs, 1)).argmax(1, false));
        vec![values.int64_value(&[0]) as f32]
    }
    let kind = ActionKind::Discrete { n: q.n_actions };
    match env {
        RunEnv::Vector(env) => play(env, episodes, seed, &kind, recorder, |obs| Ok(act(q, obs, epsilon, &mut rng))),
        RunEnv::Frames(env) => play(env, episodes, seed, &kind, recorder, |obs| Ok(act(q, obs, epsilon, &mut rng))),
    }
}

/// The spaces of a vector env, object-safe (the network builders need nothing else).
trait VecEnvSpaces {
    fn observation(&self) -> &rlx_envs::Space;
    fn action(&self) -> &rlx_envs::Space;
}

impl<V: VecEnv> VecEnvSpaces for V {
    fn observation(&self) -> &rlx_envs::Space {
        self.single_observation_space()
    }
    fn action(&self) -> &rlx_envs::Space {
        self.single_action_space()
    }
}

/// Plays `episodes` episodes on `env` (one env) with `act` (observation -> float actions); returns the episode
/// returns (`info.episode`: raw, full-game for Atari). `recorder` gets env 0's frame after the reset and after
/// every step.
fn play<V: VecEnv>(
    mut env: V,
    episodes: usize,
    seed: u64,
    kind: &ActionKind,
    mut recorder: Option<&mut Recorder>,
    mut act: impl FnMut(&[V::Obs]) -> Result<Vec<f32>>,
) -> Result<Vec<f64>> {
    let mut returns = Vec::with_capacity(episodes);
    let mut obs = env.reset(Some(seed))?.obs.clone();
    if let Some(recorder) = recorder.as_deref_mut() {
        recorder.push(env.render()?, env.render_fps(), 0.0, false)?;
    }
    let mut discrete = Vec::new();
    while returns.len() < episodes {
        let action = act(&obs)?;
        let batch = env.step(kind.env_actions(&action, &mut discrete))?;
        let (reward, episode) = (batch.rewards[0] as f64, batch.infos[0].episode);
        obs.copy_from_slice(&batch.obs);
        if let Some(ep) = episode {
            returns.push(ep.ret);
        }
        if let Some(recorder) = recorder.as_deref_mut() {
            recorder.push(env.render()?, env.render_fps(), reward, episode.is_some())?;
        }
    }
    Ok(returns)
}
