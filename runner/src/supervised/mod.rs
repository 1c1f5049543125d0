//! `rlx supervised`: the supervised tasks on rlx's runner (presets, `--set`, run folders, TensorBoard + CSV logs,
//! a checkpoint per epoch and resume, devices).
//!
//! ```text
//! rlx supervised TASK [--seed N] [--run-dir DIR] [--device auto|cpu|cuda] [--set key=value]...
//! rlx supervised --resume RUN_DIR [--set epochs=N]
//! rlx supervised eval RUN_DIR [--device cpu|cuda]
//! ```

pub mod classify;

use crate::config;
use crate::train::{CHECKPOINT_FILE, CONFIG_FILE, SUMMARY_FILE};
use anyhow::{bail, Context, Result};
use classify::{Classifier, ClassifyConfig};
use rlx_agents::device::{self, DeviceChoice};
use rlx_agents::logger::Logger;
use rlx_agents::AgentError;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

/// `rlx supervised eval`'s confusion matrix, in the run folder.
pub const CONFUSION_FILE: &str = "confusion.csv";

/// The tasks with a preset in presets/supervised/.
pub const TASKS: &[&str] = &["mnist-mlp", "mnist-lenet", "fashion-lenet", "fashion-resnet"];

#[derive(clap::Args)]
pub struct SupervisedArgs {
    /// The task (mnist-mlp, mnist-lenet, fashion-lenet, fashion-resnet), or `eval` followed by a run folder.
    #[arg(required_unless_present = "resume")]
    pub task: Option<String>,
    /// With `eval`: the run folder to evaluate.
    pub run: Option<PathBuf>,
    #[arg(long)]
    pub seed: Option<u64>,
    /// Run folder (default: runs/<task>__<seed>__<unix time>).
    #[arg(long)]
    pub run_dir: Option<PathBuf>,
    #[arg(long)]
    pub device: Option<DeviceChoice>,
    /// Override any config field: --set epochs=20 --set learning_rate=3e-4 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
    /// Continue the run in this folder from its last epoch's checkpoint.
    #[arg(long, conflicts_with_all = ["task", "seed", "run_dir"])]
    pub resume: Option<PathBuf>,
    /// No progress bar (it is off anyway when stderr is not a terminal).
    #[arg(long)]
    pub quiet: bool,
}

pub fn run(args: SupervisedArgs) -> Result<()> {
    crate::train::install_interrupt_handler();
    let show_progress = !args.quiet && std::io::stderr().is_terminal();
    if let Some(run_dir) = &args.resume {
        let mut config = read_config(run_dir)?;
        if !args.overrides.is_empty() || args.device.is_some() {
            let mut table = toml::Table::try_from(&config)?;
            if let Some(device) = args.device {
                table.insert("device".into(), toml::Value::try_from(device)?);
            }
            config::apply_overrides(&mut table, &args.overrides)?;
            config = config::from_table(table, "supervised")?;
        }
        let checkpoint = run_dir.join(CHECKPOINT_FILE);
        if !checkpoint.exists() {
            bail!("{} has no checkpoint to resume from", run_dir.display());
        }
        return train(config, run_dir, Some(&checkpoint), show_progress);
    }
    let task = args.task.as_deref().expect("clap requires a task");
    if task == "eval" {
        let run_dir = args.run.as_deref().context("usage: rlx supervised eval RUN_DIR")?;
        return eval(run_dir, args.device.unwrap_or(DeviceChoice::Cpu));
    }
    if !TASKS.contains(&task) {
        bail!("unknown task `{task}` (known: {})", TASKS.join(", "));
    }
    let (mut table, _) = config::preset_table("supervised", Some(task), task)?;
    table.insert("task".into(), toml::Value::String(task.into()));
    if let Some(seed) = args.seed {
        table.insert("seed".into(), toml::Value::Integer(seed as i64));
    }
    if let Some(device) = args.device {
        table.insert("device".into(), toml::Value::try_from(device)?);
    }
    config::apply_overrides(&mut table, &args.overrides)?;
    let config: ClassifyConfig = config::from_table(table, "supervised")?;
    config.validate()?;
    let run_dir = args.run_dir.unwrap_or_else(|| {
        let time = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        PathBuf::from("runs").join(format!("{task}__{}__{time}", config.seed))
    });
    if run_dir.join(CHECKPOINT_FILE).exists() || run_dir.join(CONFIG_FILE).exists() {
        bail!(
            "{} already holds a run; resume it with `rlx supervised --resume {0}` or pick another --run-dir",
            run_dir.display()
        );
    }
    train(config, &run_dir, None, show_progress)
}

/// Reads a supervised run folder's resolved config.
pub fn read_config(run_dir: &Path) -> Result<ClassifyConfig> {
    let path = run_dir.join(CONFIG_FILE);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {} (is {} a run folder?)", path.display(), run_dir.display()))?;
    let table: toml::Table = toml::from_str(&text).with_context(|| format!("{} is not valid TOML", path.display()))?;
    config::from_table(table, "supervised").with_context(|| format!("{} (saved config)", path.display()))
}

fn train(config: ClassifyConfig, run_dir: &Path, checkpoint: Option<&Path>, show_progress: bool) -> Result<()> {
    let device = config.device.resolve()?;
    // Data and network before the disk: a missing dataset leaves no run folder behind.
    let mut classifier = Classifier::new(config.clone(), device)?;
    if let Some(checkpoint) = checkpoint {
        classifier.load(checkpoint)?;
        if classifier.epoch >= config.epochs {
            println!(
                "{} is complete ({} of {} epochs); to train further: rlx supervised --resume {0} --set epochs=N",
                run_dir.display(),
                classifier.epoch,
                config.epochs
            );
            return Ok(());
        }
        eprintln!("resuming {} at epoch {} of {}", run_dir.display(), classifier.epoch + 1, config.epochs);
    } else {
        std::fs::create_dir_all(run_dir).with_context(|| format!("cannot create {}", run_dir.display()))?;
        let header = format!("# rlx supervised {}: resolved config\n", config.task);
        config::write_atomic(&run_dir.join(CONFIG_FILE), &(header + &toml::to_string(&config)?))?;
    }
    eprintln!(
        "training {} ({}, {} parameters) on {}, {} training / {} held-out images, on {}, logging to {}",
        config.task,
        config.model,
        classifier.num_parameters(),
        config.dataset,
        classifier.data.train.len(),
        classifier.data.test.len(),
        device::name(device),
        run_dir.display()
    );
    let resumed_at = checkpoint.map(|_| classifier.step);
    let mut logger = Logger::new(Some(run_dir), classifier.total_steps(), show_progress, resumed_at)?;
    let started = std::time::Instant::now();
    let first_epoch = classifier.epoch;
    let mut last = None;
    while classifier.epoch < config.epochs {
        let epoch_started = std::time::Instant::now();
        let Some(train_loss) = classifier.train_epoch(&mut logger)? else {
            logger.finish();
            eprintln!(
                "rlx: interrupted in epoch {}; the checkpoint of epoch {} stays: resume with rlx supervised --resume {}",
                classifier.epoch + 1,
                classifier.epoch,
                run_dir.display()
            );
            return Err(AgentError::Interrupted { step: classifier.step }.into());
        };
        let seconds = epoch_started.elapsed().as_secs_f64();
        let eval = classifier.evaluate(&classifier.data.test);
        let step = classifier.step;
        logger.scalar("train/epoch_loss", train_loss, step);
        logger.scalar("val/loss", eval.loss, step);
        logger.scalar("val/accuracy", eval.accuracy, step);
        logger.scalar("charts/epoch", classifier.epoch as f64, step);
        logger.scalar("charts/epoch_seconds", seconds, step);
        logger.flush();
        eprintln!(
            "epoch {}/{}: train loss {train_loss:.4}, val loss {:.4}, val accuracy {:.2}% ({seconds:.1} s)",
            classifier.epoch,
            config.epochs,
            eval.loss,
            100.0 * eval.accuracy
        );
        classifier.save(&run_dir.join(CHECKPOINT_FILE))?;
        last = Some(eval);
    }
    logger.finish();
    let wall = started.elapsed().as_secs_f64();
    let eval = last.context("no epoch ran")?;
    let summary = serde_json::json!({
        "task": config.task,
        "seed": config.seed,
        "epochs": classifier.epoch,
        "wall_time_s": wall,
        "seconds_per_epoch": wall / (classifier.epoch - first_epoch).max(1) as f64,
        "val_loss": eval.loss,
        "val_accuracy": eval.accuracy,
    });
    config::write_atomic(&run_dir.join(SUMMARY_FILE), &serde_json::to_string_pretty(&summary)?)?;
    println!(
        "done: {} epochs in {wall:.1} s, held-out accuracy {:.2}% (loss {:.4}); run folder: {}",
        classifier.epoch,
        100.0 * eval.accuracy,
        eval.loss,
        run_dir.display()
    );
    Ok(())
}

/// `rlx supervised eval RUN_DIR`: the held-out loss, accuracy and per-class accuracy of the run's checkpoint; the
/// confusion matrix goes to `RUN_DIR/confusion.csv` (row: true class, column: predicted class).
fn eval(run_dir: &Path, device: DeviceChoice) -> Result<()> {
    let mut config = read_config(run_dir)?;
    config.device = device;
    let mut classifier = Classifier::new(config.clone(), config.device.resolve()?)?;
    classifier.load(&run_dir.join(CHECKPOINT_FILE))?;
    let eval = classifier.evaluate(&classifier.data.test);
    println!("task {} after {} epochs, {} held-out images", config.task, classifier.epoch, classifier.data.test.len());
    println!("val_loss {:.4}", eval.loss);
    println!("val_accuracy {:.4}", eval.accuracy);
    let per_class: Vec<String> = eval
        .confusion
        .iter()
        .enumerate()
        .map(|(c, row)| format!("{c}: {:.1}%", 100.0 * row[c] as f64 / row.iter().sum::<u64>().max(1) as f64))
        .collect();
    println!("per class: {}", per_class.join(", "));
    let csv: String = eval
        .confusion
        .iter()
        .map(|row| row.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(",") + "\n")
        .collect();
    let path = run_dir.join(CONFUSION_FILE);
    config::write_atomic(&path, &csv)?;
    println!("confusion matrix: {}", path.display());
    Ok(())
}
