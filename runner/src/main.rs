//! `rlx`: the command line of the rlx suite.
//!
//! ```text
//! rlx train <algo> --env ID [--preset NAME] [--seed N] [--run-dir DIR] [--device auto|cpu|cuda] [--set key=value]...
//! rlx train --resume RUN_DIR [--set key=value]...
//! rlx eval RUN_DIR [--episodes N] [--stochastic] [--epsilon E] [--seed N] [--device cpu|cuda]
//! rlx record RUN_DIR [--episodes N] [--out FILE.gif] [--stochastic] [--epsilon E] [--seed N] [--device cpu|cuda]
//! rlx supervised TASK [--seed N] [--run-dir DIR] [--device auto|cpu|cuda] [--set key=value]...
//! rlx supervised --resume RUN_DIR | rlx supervised eval RUN_DIR
//! rlx generative TASK [...] | rlx generative --resume RUN_DIR | rlx generative sample|eval RUN_DIR
//! rlx rlhf pretrain|sft|rm|ppo|dpo|eval|all|sample ... | rlx rlhf --resume RUN_DIR
//! rlx info [--device auto|cpu|cuda]
//! ```

mod config;
mod envs;
mod epochs;
mod eval;
mod generative;
mod info;
mod record;
mod rlhf;
mod run_config;
mod supervised;
mod train;

use clap::{Parser, Subcommand};
use rlx_agents::device::DeviceChoice;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "rlx", version, about = "Deep reinforcement learning on LibTorch: train, evaluate, inspect.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train an agent from a preset (presets/<algo>/<env>.toml) with command-line overrides, or resume a run.
    Train(train::TrainArgs),
    /// Evaluate a trained run: mean and std of the episode return.
    Eval {
        /// The run folder (it holds config.toml and checkpoint.safetensors).
        run_dir: PathBuf,
        /// Episodes to play.
        #[arg(long, default_value_t = 10)]
        episodes: usize,
        #[command(flatten)]
        play: PlayOptions,
    },
    /// Record a GIF of a trained run playing (as `rlx eval` plays), with each episode's return written under it.
    Record {
        /// The run folder (it holds config.toml and checkpoint.safetensors).
        run_dir: PathBuf,
        /// Episodes to record.
        #[arg(long, default_value_t = 1)]
        episodes: usize,
        /// The GIF to write (default: RUN_DIR/video.gif).
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        play: PlayOptions,
    },
    /// Train a supervised model (mnist-mlp, mnist-lenet, fashion-lenet, fashion-resnet, char-lstm,
    /// seq2seq-addition, seq2seq-dates), resume one, or use one (`eval`, `sample`, `translate` RUN_DIR).
    Supervised(supervised::SupervisedArgs),
    /// Train a generative model of images (fashion-vae, -dcgan, -ddpm; mnist-vae, -dcgan, -ddpm), resume one, or use one (`sample`, `eval`
    /// RUN_DIR).
    Generative(generative::GenerativeArgs),
    /// The RLHF pipeline on Shakespeare (presets/rlhf/): pretrain, sft, rm, ppo, dpo, eval, all, or sample.
    Rlhf(rlhf::RlhfArgs),
    /// Print versions (rlx, tch, PyTorch), the device that would be used, CUDA/cuDNN availability and threads.
    Info {
        #[arg(long, default_value = "auto")]
        device: DeviceChoice,
    },
}

/// How `rlx eval` and `rlx record` choose actions and where they play.
#[derive(clap::Args)]
struct PlayOptions {
    /// PPO: sample actions from the policy instead of taking the most likely one.
    #[arg(long)]
    stochastic: bool,
    /// DQN: exploration rate while playing (default 0.05, the Nature protocol's).
    #[arg(long)]
    epsilon: Option<f64>,
    /// Seed of the env (default: the run's seed + 10000).
    #[arg(long)]
    seed: Option<u64>,
    /// Device to play on (default: cpu).
    #[arg(long, default_value = "cpu")]
    device: DeviceChoice,
}

impl PlayOptions {
    fn with_episodes(self, episodes: usize) -> eval::EvalArgs {
        let PlayOptions { stochastic, epsilon, seed, device } = self;
        eval::EvalArgs { episodes, stochastic, epsilon, seed, device }
    }
}

/// Keeps memory LibTorch frees in the process instead of handing it back to the kernel. glibc's malloc returns every
/// freed block above its mmap threshold (adaptive, from 128 KiB) to the kernel, so the large activation tensors a
/// training step allocates and frees are page-faulted in again on the next step: one-thread DDPM epoch on 2,560
/// images, 3.4M page faults and 39.9 CPU seconds as glibc ships, 1.2M and 31.1 s with these settings (PyTorch eager:
/// 2.3M and 35.5 s). 32 MiB is glibc's largest mmap threshold on 64-bit; freed memory stays below the run's peak.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn keep_freed_memory() {
    // SAFETY: mallopt only sets allocator parameters, here before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn keep_freed_memory() {}

fn main() -> ExitCode {
    keep_freed_memory();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Train(args) => train::run(args),
        Command::Eval { run_dir, episodes, play } => eval::run(&run_dir, &play.with_episodes(episodes)),
        Command::Record { run_dir, episodes, out, play } => record::run(&run_dir, out, &play.with_episodes(episodes)),
        Command::Supervised(args) => supervised::run(args),
        Command::Generative(args) => generative::run(args),
        Command::Rlhf(args) => rlhf::run(args),
        Command::Info { device } => info::run(device),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // Said already, with how to resume; 130 as a shell reports an interrupted command.
        Err(e) if matches!(e.downcast_ref(), Some(rlx_agents::AgentError::Interrupted { .. })) => ExitCode::from(130),
        Err(e) => {
            // One line, the whole cause chain, no backtrace: user mistakes are not crashes.
            eprintln!("rlx: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
