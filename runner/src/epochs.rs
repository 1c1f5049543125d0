//! The epoch loop of rlx's epoch-based tasks (`rlx supervised`, `rlx generative`) and what their trainers share:
//! the [`Trainer`] interface, the loop with its logging, checkpoints and summary ([`run_epochs`]), the update step
//! with its NaN guard, the checkpoint layout, learning-rate schedules and per-epoch seeding.

use crate::config;
use crate::train::{CHECKPOINT_FILE, CONFIG_FILE, SUMMARY_FILE};
use anyhow::{Context, Result};
use rlx_agents::device;
use rlx_agents::guard;
use rlx_agents::logger::Logger;
use rlx_agents::{checkpoint, AgentError};
use rlx_models::Optimizer;
use std::path::Path;

/// Epochs finished, optimizer steps taken and updates skipped by the NaN guard: what a checkpoint counts.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Progress {
    pub epoch: usize,
    pub step: u64,
    pub skipped_updates: u64,
}

/// One optimizer update with the NaN guard: a non-finite loss or gradient stops training with a one-line error
/// (or, with `nan_policy = "skip"`, skips the update and counts it).
pub struct Update {
    pub lr: f64,
    pub max_grad_norm: Option<f64>,
    pub nan_policy: guard::NanPolicy,
}

impl Update {
    /// Backpropagates `loss` (`name` says what it is in an error: "cross-entropy loss") and steps, counting one
    /// step in `progress`; the loss value, or `None` when the update was skipped.
    pub fn apply(
        &self,
        optimizer: &mut Optimizer,
        loss: &tch::Tensor,
        name: &str,
        progress: &mut Progress,
        logger: &mut Logger,
    ) -> Result<Option<f64>> {
        progress.step += 1;
        let value = self.step(optimizer, loss, name, progress.step)?;
        if value.is_none() {
            progress.count_skipped(logger);
        }
        Ok(value)
    }

    /// [`Update::apply`] without the counting, for a step that updates several networks (a GAN's two): the loss
    /// value, or `None` when `nan_policy` skipped the update.
    pub fn step(&self, optimizer: &mut Optimizer, loss: &tch::Tensor, name: &str, step: u64) -> Result<Option<f64>> {
        let value = loss.double_value(&[]);
        let result =
            if value.is_finite() { optimizer.backward_step(loss, self.lr, self.max_grad_norm) } else { Err(value) };
        match result {
            Ok(_) => Ok(Some(value)),
            Err(bad) => {
                let what = if value.is_finite() { format!("gradient of the {name}") } else { name.to_string() };
                guard::non_finite(self.nan_policy, &what, bad, step)?;
                Ok(None)
            }
        }
    }
}

impl Progress {
    /// A checkpoint's state: who wrote it (`algo`, and the task as `env_id`) and these counters.
    pub fn state(&self, algo: &str, task: &str) -> serde_json::Value {
        serde_json::json!({
            "algo": algo,
            "env_id": task,
            "epoch": self.epoch,
            "step": self.step,
            "skipped_updates": self.skipped_updates,
        })
    }

    /// The counters a checkpoint's state holds (`epoch`, `step`, `skipped_updates`); `path` names it in errors.
    pub fn from_state(path: &Path, state: &serde_json::Value) -> Result<Progress> {
        let number = |key: &str| {
            state[key].as_u64().ok_or_else(|| anyhow::anyhow!("{}: state field `{key}` missing", path.display()))
        };
        Ok(Progress {
            epoch: number("epoch")? as usize,
            step: number("step")?,
            skipped_updates: number("skipped_updates")?,
        })
    }

    /// Counts an update the NaN guard skipped, and logs the count.
    pub fn count_skipped(&mut self, logger: &mut Logger) {
        self.skipped_updates += 1;
        logger.scalar("charts/skipped_updates", self.skipped_updates as f64, self.step);
    }
}

/// The checkpoint of an epoch-based run (`algo`: `supervised` or `generative`): rlx's one format for a trained network ([`checkpoint::save_trained`]: its
/// variables, batch-norm statistics included, the optimizer's state and the counters).
pub fn save_checkpoint(
    path: &Path,
    vs: &tch::nn::VarStore,
    optimizer: &Optimizer,
    algo: &str,
    task: &str,
    progress: &Progress,
) -> Result<()> {
    Ok(checkpoint::save_trained(path, vs, optimizer, progress.state(algo, task))?)
}

/// Restores what [`save_checkpoint`] wrote into `vs` and `optimizer`; a checkpoint of another task or network is
/// a one-line error.
pub fn load_checkpoint(
    path: &Path,
    vs: &tch::nn::VarStore,
    optimizer: &mut Optimizer,
    algo: &str,
    task: &str,
) -> Result<Progress> {
    let state = checkpoint::load_trained(path, vs, Some(optimizer), algo, task)?;
    Progress::from_state(path, &state)
}

/// The learning rate at optimizer step `step` of `total` (`epoch` of `epochs` counts from 0): `constant`, `cosine`
/// (half a cosine from `base` to 0 over the run, per step) or `step` (x0.1 at 50% and 75% of the epochs).
pub fn scheduled_lr(schedule: &str, base: f64, step: u64, total: u64, epoch: usize, epochs: usize) -> f64 {
    match schedule {
        "cosine" => 0.5 * base * (1.0 + (std::f64::consts::PI * step as f64 / total.max(1) as f64).cos()),
        "step" => {
            base * 0.1f64.powi([epochs / 2, epochs * 3 / 4].iter().filter(|&&at| at > 0 && epoch >= at).count() as i32)
        }
        _ => base,
    }
}

/// Seeds LibTorch's generator (dropout) for epoch `epoch` of a run seeded `seed`: a resumed epoch draws what the
/// uninterrupted run drew.
pub fn seed_epoch(seed: u64, epoch: usize) {
    tch::manual_seed((seed as i64).wrapping_mul(1_000_003).wrapping_add(epoch as i64));
}

/// An epoch's training loss: its mean over the epoch, and the mean since the last report.
#[derive(Debug, Default)]
pub struct EpochLoss {
    sum: f64,
    count: usize,
    window_sum: f64,
    window_count: usize,
}

impl EpochLoss {
    pub fn add(&mut self, value: f64) {
        (self.sum, self.count) = (self.sum + value, self.count + 1);
        (self.window_sum, self.window_count) = (self.window_sum + value, self.window_count + 1);
    }

    /// Updates applied this epoch.
    pub fn count(&self) -> usize {
        self.count
    }

    pub fn mean(&self) -> f64 {
        self.sum / self.count.max(1) as f64
    }

    /// At steps that are multiples of `interval`: logs the mean since the last report as `tag` (for a second
    /// loss beside `train/loss`, such as a GAN's discriminator's).
    pub fn report_as(&mut self, logger: &mut Logger, tag: &str, step: u64, interval: usize) {
        if !step.is_multiple_of(interval as u64) || self.window_count == 0 {
            return;
        }
        logger.scalar(tag, self.window_sum / self.window_count as f64, step);
        (self.window_sum, self.window_count) = (0.0, 0);
    }

    /// At steps that are multiples of `interval`: logs `train/loss` (the mean since the last report) and
    /// `charts/learning_rate`, and shows `message(that mean)` on the progress bar.
    pub fn report(
        &mut self,
        logger: &mut Logger,
        step: u64,
        interval: usize,
        lr: f64,
        message: impl FnOnce(f64) -> String,
    ) {
        self.report_tagged(logger, "train/loss", step, interval, lr, message)
    }

    /// [`EpochLoss::report`] with the loss logged as `tag` (a GAN's `train/loss_g`).
    pub fn report_tagged(
        &mut self,
        logger: &mut Logger,
        tag: &str,
        step: u64,
        interval: usize,
        lr: f64,
        message: impl FnOnce(f64) -> String,
    ) {
        if !step.is_multiple_of(interval as u64) || self.window_count == 0 {
            return;
        }
        let mean = self.window_sum / self.window_count as f64;
        logger.scalar(tag, mean, step);
        logger.scalar("charts/learning_rate", lr, step);
        logger.progress_with(step, message(mean));
        (self.window_sum, self.window_count) = (0.0, 0);
    }
}

/// The [`Trainer`] methods every trainer forwards to its own fields and inherent methods of the same names
/// (`config.task`, `config.epochs`, `progress`, `total_steps`, `train_epoch`).
macro_rules! trainer_basics {
    ($ty:ty) => {
        fn task(&self) -> &str {
            &self.config.task
        }
        fn epochs(&self) -> usize {
            self.config.epochs
        }
        fn progress(&self) -> $crate::epochs::Progress {
            self.progress
        }
        fn total_steps(&self) -> u64 {
            <$ty>::total_steps(self)
        }
        fn train_epoch(&mut self, logger: &mut rlx_agents::logger::Logger) -> anyhow::Result<Option<f64>> {
            <$ty>::train_epoch(self, logger)
        }
    };
}
pub(crate) use trainer_basics;

/// What the epoch loop needs of a task.
pub trait Trainer {
    fn task(&self) -> &str;
    fn epochs(&self) -> usize;
    fn progress(&self) -> Progress;
    fn total_steps(&self) -> u64;
    /// "lenet, 61,706 parameters, 8000 training / 2000 held-out images": for the start line.
    fn describe(&self) -> String;
    /// One epoch; its mean training loss, or `None` when an interrupt stopped it.
    fn train_epoch(&mut self, logger: &mut Logger) -> Result<Option<f64>>;
    /// Held-out metrics, `val/loss` first, as (tag, value).
    fn evaluate(&mut self) -> Vec<(&'static str, f64)>;
    fn save(&self, path: &Path) -> Result<()>;
    fn load(&mut self, path: &Path) -> Result<()>;
    /// Called after each epoch's checkpoint: what a task writes into its run folder to show progress (the
    /// generative models' sample grids).
    fn after_epoch(&mut self, _run_dir: &Path) -> Result<()> {
        Ok(())
    }
    /// Printed after the last epoch (a text sample for language models).
    fn epilogue(&self) -> Result<Option<String>> {
        Ok(None)
    }
}

/// Where and how an epoch loop runs.
pub struct EpochRun<'a> {
    /// The subcommand, for messages and the config header: `supervised` or `generative`.
    pub command: &'static str,
    pub run_dir: &'a Path,
    /// The checkpoint to resume from; `None` starts afresh.
    pub checkpoint: Option<&'a Path>,
    pub show_progress: bool,
    pub seed: u64,
    /// The resolved config, written to the run folder on a fresh start, and again on a resume that changed it.
    pub config: toml::Table,
}

/// The epoch loop every epoch-based task shares: resume from a checkpoint, train epoch after epoch with held-out
/// metrics, TensorBoard + CSV logs, a checkpoint per epoch, and the summary. The trainer is built (data loaded,
/// network made) before this is called, so a missing dataset leaves no run folder behind.
pub fn run_epochs(trainer: &mut dyn Trainer, device: tch::Device, run: EpochRun) -> Result<()> {
    let EpochRun { command, run_dir, checkpoint, show_progress, seed, config } = run;
    let task = trainer.task().to_string();
    if let Some(checkpoint) = checkpoint {
        trainer.load(checkpoint)?;
        if trainer.progress().epoch >= trainer.epochs() {
            println!(
                "{} is complete ({} of {} epochs); to train further: rlx {command} --resume {0} --set epochs=N",
                run_dir.display(),
                trainer.progress().epoch,
                trainer.epochs()
            );
            return Ok(());
        }
        config::rewrite_resolved(&run_dir.join(CONFIG_FILE), &toml::to_string(&config)?)?;
        eprintln!("resuming {} at epoch {} of {}", run_dir.display(), trainer.progress().epoch + 1, trainer.epochs());
    } else {
        std::fs::create_dir_all(run_dir).with_context(|| format!("cannot create {}", run_dir.display()))?;
        let header = format!("# rlx {command} {task}: resolved config\n");
        config::write_atomic(&run_dir.join(CONFIG_FILE), &(header + &toml::to_string(&config)?))?;
    }
    eprintln!("training {task} ({}) on {}, logging to {}", trainer.describe(), device::name(device), run_dir.display());
    let resumed_at = checkpoint.map(|_| trainer.progress().step);
    let mut logger = Logger::new(Some(run_dir), trainer.total_steps(), show_progress, resumed_at)?;
    let started = std::time::Instant::now();
    let first_epoch = trainer.progress().epoch;
    let mut last = Vec::new();
    while trainer.progress().epoch < trainer.epochs() {
        let epoch_started = std::time::Instant::now();
        let Some(train_loss) = trainer.train_epoch(&mut logger)? else {
            logger.finish();
            let epoch = trainer.progress().epoch;
            eprintln!(
                "rlx: interrupted in epoch {}; the checkpoint of epoch {epoch} stays: resume with rlx {command} \
                 --resume {}",
                epoch + 1,
                run_dir.display()
            );
            return Err(AgentError::Interrupted { step: trainer.progress().step }.into());
        };
        let seconds = epoch_started.elapsed().as_secs_f64();
        let metrics = trainer.evaluate();
        let Progress { epoch, step, .. } = trainer.progress();
        logger.scalar("train/epoch_loss", train_loss, step);
        for (tag, value) in &metrics {
            logger.scalar(tag, *value, step);
        }
        logger.scalar("charts/epoch", epoch as f64, step);
        logger.scalar("charts/epoch_seconds", seconds, step);
        logger.flush();
        let shown: Vec<String> = metrics.iter().map(|(tag, v)| format!("{tag} {v:.4}")).collect();
        let shown: String = shown.iter().map(|m| format!(", {m}")).collect();
        eprintln!("epoch {epoch}/{}: train loss {train_loss:.4}{shown} ({seconds:.1} s)", trainer.epochs());
        trainer.save(&run_dir.join(CHECKPOINT_FILE))?;
        trainer.after_epoch(run_dir)?;
        last = metrics;
    }
    logger.finish();
    let wall = started.elapsed().as_secs_f64();
    let epochs = trainer.progress().epoch;
    let mut summary = serde_json::json!({
        "task": task,
        "seed": seed,
        "epochs": epochs,
        "wall_time_s": wall,
        "seconds_per_epoch": wall / (epochs - first_epoch).max(1) as f64,
    });
    for (tag, value) in &last {
        summary[tag.replace('/', "_")] = serde_json::json!(value);
    }
    config::write_atomic(&run_dir.join(SUMMARY_FILE), &serde_json::to_string_pretty(&summary)?)?;
    let shown: String = last.iter().map(|(tag, v)| format!(", {tag} {v:.4}")).collect();
    println!("done: {epochs} epochs in {wall:.1} s{shown}; run folder: {}", run_dir.display());
    if let Some(text) = trainer.epilogue()? {
        println!("{text}");
    }
    Ok(())
}
