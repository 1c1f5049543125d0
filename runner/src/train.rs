//! `rlx train`: resolve the config (preset + flags + --set), set up the run folder, train, checkpoint; or resume.

use crate::config::{self, ALGOS};
use crate::envs::{make_vec_env, RunEnv};
use crate::run_config::{Agent, RunConfig};
use anyhow::{bail, Context, Result};
use rlx_agents::device::{self, DeviceChoice};
use rlx_agents::dqn::{Dqn, DqnObs};
use rlx_agents::guard;
use rlx_agents::logger::Logger;
use rlx_agents::ppo::Ppo;
use rlx_agents::AgentError;
use rlx_envs::vector::VecEnv;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

pub const CONFIG_FILE: &str = "config.toml";
pub const CHECKPOINT_FILE: &str = "checkpoint.safetensors";
pub const SUMMARY_FILE: &str = "summary.json";

#[derive(clap::Args)]
pub struct TrainArgs {
    /// Algorithm (ppo, dqn). Not needed with --resume.
    #[arg(required_unless_present = "resume")]
    pub algo: Option<String>,
    /// Gymnasium id of the environment, e.g. CartPole-v1. Not needed with --resume.
    #[arg(long, required_unless_present = "resume")]
    pub env: Option<String>,
    /// Preset name under presets/<algo>/ (default: the one named after the env, if any).
    #[arg(long)]
    pub preset: Option<String>,
    /// Continue the run in this folder from its checkpoint.
    #[arg(long, conflicts_with_all = ["algo", "env", "preset", "seed", "run_dir"])]
    pub resume: Option<PathBuf>,
    #[command(flatten)]
    pub run: RunOptions,
}

/// The options `rlx train` and `rlx supervised` share.
#[derive(clap::Args)]
pub struct RunOptions {
    /// Seed of everything random in the run (default: the preset's, else 0).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Run folder (default: runs/<env or task>__[<algo>__]<seed>__<unix time>).
    #[arg(long)]
    pub run_dir: Option<PathBuf>,
    /// auto (CUDA when LibTorch sees a GPU), cpu or cuda (default: the preset's, else auto).
    #[arg(long)]
    pub device: Option<DeviceChoice>,
    /// Override any config field: --set n_steps=64 --set learning_rate=lin_1e-3 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
    /// No progress bar (it is off anyway when stderr is not a terminal).
    #[arg(long)]
    pub quiet: bool,
}

impl RunOptions {
    /// Writes `--seed`, `--device` and every `--set` into a config table: the flags win over the preset or the saved
    /// config.
    pub fn apply_to(&self, table: &mut toml::Table) -> Result<()> {
        if let Some(seed) = self.seed {
            table.insert("seed".into(), toml::Value::Integer(seed as i64));
        }
        if let Some(device) = self.device {
            table.insert("device".into(), toml::Value::try_from(device)?);
        }
        config::apply_overrides(table, &self.overrides)
    }

    /// Whether the flags change a config at all (a resume without them keeps the saved one as it is).
    pub fn change_config(&self) -> bool {
        self.seed.is_some() || self.device.is_some() || !self.overrides.is_empty()
    }

    /// `--run-dir`, or `runs/<stem>__<unix time>`.
    pub fn run_dir_or_default(&self, stem: &str) -> PathBuf {
        self.run_dir.clone().unwrap_or_else(|| {
            let time =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
            PathBuf::from("runs").join(format!("{stem}__{time}"))
        })
    }

    pub fn show_progress(&self) -> bool {
        !self.quiet && std::io::stderr().is_terminal()
    }
}

/// Ctrl-C or SIGTERM while training: the first asks the loop to stop at its next consistent point and write a
/// checkpoint; a second exits at once (exit code 130).
pub fn install_interrupt_handler() {
    let _ = ctrlc::set_handler(|| {
        if guard::interrupted() {
            std::process::exit(130);
        }
        eprintln!("\nrlx: stopping: writing a checkpoint (interrupt again to quit at once)");
        guard::request_interrupt();
    });
}

pub fn run(args: TrainArgs) -> Result<()> {
    install_interrupt_handler();
    let show_progress = args.run.show_progress();
    if let Some(run_dir) = &args.resume {
        return resume(run_dir, &args.run, show_progress);
    }
    let algo = args.algo.as_deref().expect("clap requires algo");
    let env_id = args.env.as_deref().expect("clap requires env");
    if !ALGOS.contains(&algo) {
        bail!("unknown algorithm `{algo}` (known: {})", ALGOS.join(", "));
    }
    let (mut table, preset) = config::preset_table(algo, args.preset.as_deref(), env_id)?;
    table.insert("env_id".into(), toml::Value::String(env_id.into()));
    args.run.apply_to(&mut table)?;
    let config = RunConfig::from_table(algo, table)?;
    let device = config.device().resolve()?;
    // Build the envs before touching the disk: a bad env id leaves no run folder behind.
    let env = make_vec_env(&config.env_spec())?;

    let run_dir = args.run.run_dir_or_default(&format!("{env_id}__{algo}__{}", config.seed()));
    if run_dir.join(CHECKPOINT_FILE).exists() || run_dir.join(CONFIG_FILE).exists() {
        bail!(
            "{} already holds a run; resume it with `rlx train --resume {0}` or pick another --run-dir",
            run_dir.display()
        );
    }
    std::fs::create_dir_all(&run_dir).with_context(|| format!("cannot create {}", run_dir.display()))?;
    let header = format!(
        "# rlx train {algo} --env {env_id}: resolved config (preset: {})\n",
        preset.as_deref().unwrap_or("none, SB3 defaults")
    );
    config::write_atomic(&run_dir.join(CONFIG_FILE), &(header + &config.to_toml()?))?;
    eprintln!(
        "training {algo} on {env_id} (preset {}) on {}, logging to {}",
        preset.as_deref().unwrap_or("none"),
        device::name(device),
        run_dir.display()
    );
    if let Some(warning) = config.precision().cpu_warning(device) {
        eprintln!("rlx: warning: {warning}");
    }
    Start { run_dir: &run_dir, checkpoint: None, show_progress, changed_config: None }.train_on(config, env)
}

/// Reads a run folder's resolved config.
pub fn read_config(run_dir: &Path) -> Result<RunConfig> {
    let path = run_dir.join(CONFIG_FILE);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {} (is {} a run folder?)", path.display(), run_dir.display()))?;
    let mut table: toml::Table =
        toml::from_str(&text).with_context(|| format!("{} is not valid TOML", path.display()))?;
    // Run folders written before DQN existed are PPO runs, and name no algorithm.
    let algo = match table.remove("algo") {
        None => "ppo".to_string(),
        Some(toml::Value::String(algo)) => algo,
        Some(other) => bail!("{}: `algo` must be a string, found {other}", path.display()),
    };
    // Runs saved before the Atari frame pipeline was a choice trained on ALE's grayscale: they keep it.
    table.entry("frame_pipeline").or_insert_with(|| toml::Value::String("ale".into()));
    RunConfig::from_table(&algo, table).with_context(|| format!("{} (saved config)", path.display()))
}

fn resume(run_dir: &Path, options: &RunOptions, show_progress: bool) -> Result<()> {
    let mut config = read_config(run_dir)?;
    let mut changed_config = None;
    if options.change_config() {
        let mut table = config.to_table()?;
        options.apply_to(&mut table)?;
        config = RunConfig::from_table(config.algo(), table)?;
        changed_config = Some(config.to_toml()?);
    }
    let checkpoint = run_dir.join(CHECKPOINT_FILE);
    if !checkpoint.exists() {
        bail!("{} has no checkpoint to resume from", run_dir.display());
    }
    let env = make_vec_env(&config.env_spec())?;
    Start { run_dir, checkpoint: Some(&checkpoint), show_progress, changed_config }.train_on(config, env)
}

/// A DQN agent with its periodic evaluation when the config asks for one.
fn with_evaluator<V: VecEnv + Send>(mut agent: Dqn<V>) -> Dqn<V>
where
    V::Obs: DqnObs,
{
    if agent.config.eval_interval > 0 {
        agent.evaluator = Some(crate::eval::dqn_evaluator(&agent.config));
    }
    agent
}

/// A run about to train: fresh, or from a checkpoint.
struct Start<'a> {
    run_dir: &'a Path,
    checkpoint: Option<&'a Path>,
    show_progress: bool,
    /// The resolved config's fields when `--resume --set` changed them: written over `config.toml` once the
    /// checkpoint has loaded, so a later plain `--resume` keeps them.
    changed_config: Option<String>,
}

impl Start<'_> {
    /// Dispatches once on the algorithm and the observation type.
    fn train_on(self, config: RunConfig, env: RunEnv) -> Result<()> {
        let (algo, env_id, seed) = (config.algo(), config.env_id().to_string(), config.seed());
        match (config, env) {
            (RunConfig::Ppo(c), RunEnv::Vector(env)) => self.train(Ppo::new(c, env)?, algo, &env_id, seed),
            (RunConfig::Ppo(c), RunEnv::Frames(env)) => self.train(Ppo::new(c, env)?, algo, &env_id, seed),
            (RunConfig::Dqn(c), RunEnv::Vector(env)) => {
                self.train(with_evaluator(Dqn::new(c, env)?), algo, &env_id, seed)
            }
            (RunConfig::Dqn(c), RunEnv::Frames(env)) => {
                self.train(with_evaluator(Dqn::new(c, env)?), algo, &env_id, seed)
            }
        }
    }

    /// Restores the checkpoint if any, trains, and writes the summary.
    fn train(self, mut agent: impl Agent, algo: &str, env_id: &str, seed: u64) -> Result<()> {
        let resumed_at = match self.checkpoint {
            Some(checkpoint) => {
                agent.load(checkpoint)?;
                if agent.global_step() >= agent.total_timesteps() {
                    println!(
                        "{} is complete ({} of {} steps); to train further, resume it with a larger budget: \
                         rlx train --resume {0} --set total_timesteps=N",
                        self.run_dir.display(),
                        agent.global_step(),
                        agent.total_timesteps()
                    );
                    return Ok(());
                }
                if let Some(body) = &self.changed_config {
                    config::rewrite_resolved(&self.run_dir.join(CONFIG_FILE), body)?;
                }
                eprintln!(
                    "resuming {} at step {} of {}",
                    self.run_dir.display(),
                    agent.global_step(),
                    agent.total_timesteps()
                );
                Some(agent.global_step())
            }
            None => None,
        };
        let mut logger = Logger::new(Some(self.run_dir), agent.total_timesteps(), self.show_progress, resumed_at)?;
        let run_dir = self.run_dir;
        let started = std::time::Instant::now();
        let start_step = agent.global_step();
        if let Err(e) = agent.learn(&mut logger, &run_dir.join(CHECKPOINT_FILE)) {
            if let Some(AgentError::Interrupted { step }) = e.downcast_ref::<AgentError>() {
                eprintln!(
                    "rlx: interrupted at step {step}; checkpoint written: resume with rlx train --resume {}",
                    run_dir.display()
                );
            }
            return Err(e);
        }
        let wall = started.elapsed().as_secs_f64();
        let summary = serde_json::json!({
            "algo": algo,
            "env_id": env_id,
            "seed": seed,
            "total_timesteps": agent.global_step(),
            "wall_time_s": wall,
            "sps": (agent.global_step() - start_step) as f64 / wall.max(1e-9),
            "mean_return_last_100_episodes": logger.mean_recent_return(),
        });
        config::write_atomic(&run_dir.join(SUMMARY_FILE), &serde_json::to_string_pretty(&summary)?)?;
        println!(
            "done: {} steps in {wall:.1} s ({:.0} SPS), mean return of the last {} training episodes {}",
            agent.global_step(),
            summary["sps"].as_f64().unwrap_or(0.0),
            logger.recent_returns.len(),
            logger.mean_recent_return().map_or("n/a".into(), |r| format!("{r:.1}"))
        );
        println!("run folder: {} (TensorBoard: tensorboard --logdir {0}; CSV: {0}/progress.csv)", run_dir.display());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rlx_agents::ppo::PpoConfig;
    use rlx_envs::atari::FramePipeline;

    #[test]
    fn saved_runs_keep_their_frame_pipeline_and_older_runs_read_as_ale() {
        let dir = tempfile::tempdir().unwrap();
        let fresh = PpoConfig { env_id: "PongNoFrameskip-v4".into(), ..Default::default() };
        assert_eq!(fresh.frame_pipeline, FramePipeline::Sb3);
        let pipeline = |config: RunConfig| match config {
            RunConfig::Ppo(c) => c.frame_pipeline,
            RunConfig::Dqn(c) => c.frame_pipeline,
        };
        let text = RunConfig::Ppo(fresh).to_toml().unwrap();
        config::write_atomic(&dir.path().join(CONFIG_FILE), &text).unwrap();
        assert_eq!(pipeline(read_config(dir.path()).unwrap()), FramePipeline::Sb3);

        // A config.toml written before the field (and DQN) existed: a PPO run on ALE's grayscale.
        let old = text.replace("frame_pipeline = \"sb3\"\n", "").replace("algo = \"ppo\"\n", "");
        assert!(!old.contains("frame_pipeline") && !old.contains("algo"));
        config::write_atomic(&dir.path().join(CONFIG_FILE), &old).unwrap();
        let read = read_config(dir.path()).unwrap();
        assert_eq!((read.algo(), pipeline(read)), ("ppo", FramePipeline::Ale));
    }
}
