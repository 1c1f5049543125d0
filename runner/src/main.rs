//! `rlx`: the command line of the rlx suite.

mod device;
mod info;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "rlx", version, about = "Deep reinforcement learning on LibTorch: train, evaluate, inspect.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print versions (rlx, tch, PyTorch), the device that would be used, CUDA/cuDNN availability and threads.
    Info {
        /// Device to report on: auto (CUDA when available), cpu or cuda.
        #[arg(long, default_value = "auto")]
        device: device::DeviceArg,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Info { device } => info::run(device),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line, the whole cause chain, no backtrace: user mistakes are not crashes.
            eprintln!("rlx: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
