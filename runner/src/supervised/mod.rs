//! `rlx supervised`: the supervised tasks on rlx's runner (presets, `--set`, run folders, TensorBoard + CSV logs,
//! a checkpoint per epoch and resume, devices).
//!
//! ```text
//! rlx supervised TASK [--seed N] [--run-dir DIR] [--device auto|cpu|cuda] [--set key=value]...
//! rlx supervised --resume RUN_DIR [--set epochs=N]
//! rlx supervised eval RUN_DIR [--device cpu|cuda]
//! rlx supervised sample RUN_DIR [--prompt TEXT] [--chars N] [--temperature T] [--seed N]
//! rlx supervised translate RUN_DIR TEXT... [--beam K] [--attention FILE.png]
//! ```
//!
//! Each task is a [`Trainer`] (image classification in `classify.rs`, the character language model in
//! `char_lm.rs`); this file holds what they share: the epoch loop with its logging, checkpoints and summary, the
//! update step with its NaN guard, and the checkpoint layout.

mod attention_map;
pub mod char_lm;
pub mod classify;
pub mod seq2seq;

use crate::config;
use crate::train::{RunOptions, CHECKPOINT_FILE, CONFIG_FILE, SUMMARY_FILE};
use anyhow::{bail, Context, Result};
use char_lm::{CharLm, CharLmConfig};
use classify::{Classifier, ClassifyConfig};
use rlx_agents::device::{self, DeviceChoice};
use rlx_agents::guard;
use rlx_agents::logger::Logger;
use rlx_agents::{checkpoint, AgentError};
use rlx_models::Optimizer;
use seq2seq::{Seq2SeqTaskConfig, Seq2SeqTrainer};
use std::path::{Path, PathBuf};

/// `rlx supervised eval`'s confusion matrix, in the run folder.
pub const CONFUSION_FILE: &str = "confusion.csv";

/// The tasks with a preset in presets/supervised/.
pub const TASKS: &[&str] =
    &["mnist-mlp", "mnist-lenet", "fashion-lenet", "fashion-resnet", "char-lstm", "seq2seq-addition", "seq2seq-dates"];

#[derive(clap::Args)]
pub struct SupervisedArgs {
    /// The task (mnist-mlp, mnist-lenet, fashion-lenet, fashion-resnet, char-lstm, seq2seq-addition,
    /// seq2seq-dates), or `eval` / `sample` / `translate` followed by a run folder.
    #[arg(required_unless_present = "resume")]
    pub task: Option<String>,
    /// With `eval`, `sample` or `translate`: the run folder.
    pub run: Option<PathBuf>,
    /// With `translate`: the strings to translate.
    pub inputs: Vec<String>,
    /// With `translate`: beam width (1: greedy).
    #[arg(long, default_value_t = 1)]
    pub beam: usize,
    /// With `translate`: write the first input's attention map to this PNG.
    #[arg(long)]
    pub attention: Option<PathBuf>,
    /// With `sample`: the text to continue (default: the run's `prompt`).
    #[arg(long)]
    pub prompt: Option<String>,
    /// With `sample`: characters to generate.
    #[arg(long, default_value_t = 500)]
    pub chars: usize,
    /// With `sample`: softmax temperature (default: the run's).
    #[arg(long)]
    pub temperature: Option<f64>,
    /// Continue the run in this folder from its last epoch's checkpoint.
    #[arg(long, conflicts_with_all = ["task", "seed", "run_dir"])]
    pub resume: Option<PathBuf>,
    #[command(flatten)]
    pub options: RunOptions,
}

pub fn run(args: SupervisedArgs) -> Result<()> {
    crate::train::install_interrupt_handler();
    let show_progress = args.options.show_progress();
    if let Some(run_dir) = &args.resume {
        let mut config = read_config(run_dir)?;
        if args.options.change_config() {
            let mut table = config.to_table()?;
            args.options.apply_to(&mut table)?;
            config = TaskConfig::from_table(table)?;
        }
        let checkpoint = run_dir.join(CHECKPOINT_FILE);
        if !checkpoint.exists() {
            bail!("{} has no checkpoint to resume from", run_dir.display());
        }
        return train(config, run_dir, Some(&checkpoint), show_progress);
    }
    let task = args.task.as_deref().expect("clap requires a task");
    if ["eval", "sample", "translate"].contains(&task) {
        let run_dir = args.run.as_deref().with_context(|| format!("usage: rlx supervised {task} RUN_DIR"))?;
        let device = args.options.device.unwrap_or(DeviceChoice::Cpu);
        return match task {
            "eval" => eval(run_dir, device),
            "sample" => sample(run_dir, device, &args),
            _ => translate(run_dir, device, &args),
        };
    }
    if !TASKS.contains(&task) {
        bail!("unknown task `{task}` (known: {})", TASKS.join(", "));
    }
    let (mut table, _) = config::preset_table("supervised", Some(task), task)?;
    table.insert("task".into(), toml::Value::String(task.into()));
    args.options.apply_to(&mut table)?;
    let config = TaskConfig::from_table(table)?;
    let run_dir = args.options.run_dir_or_default(&format!("{task}__{}", config.seed()));
    if run_dir.join(CHECKPOINT_FILE).exists() || run_dir.join(CONFIG_FILE).exists() {
        bail!(
            "{} already holds a run; resume it with `rlx supervised --resume {0}` or pick another --run-dir",
            run_dir.display()
        );
    }
    train(config, &run_dir, None, show_progress)
}

/// A supervised run's resolved config: which one is decided by its task.
#[derive(Debug, Clone)]
pub enum TaskConfig {
    Classify(ClassifyConfig),
    CharLm(CharLmConfig),
    Seq2Seq(Seq2SeqTaskConfig),
}

impl TaskConfig {
    /// Parses and validates a table whose `task` names the kind of config.
    pub fn from_table(table: toml::Table) -> Result<Self> {
        let task = table.get("task").and_then(|t| t.as_str()).unwrap_or_default().to_string();
        let config = if task == "char-lstm" {
            TaskConfig::CharLm(config::from_table(table, "supervised")?)
        } else if task.starts_with("seq2seq-") {
            TaskConfig::Seq2Seq(config::from_table(table, "supervised")?)
        } else {
            TaskConfig::Classify(config::from_table(table, "supervised")?)
        };
        match &config {
            TaskConfig::Classify(c) => c.validate()?,
            TaskConfig::CharLm(c) => c.validate()?,
            TaskConfig::Seq2Seq(c) => c.validate()?,
        }
        Ok(config)
    }

    pub fn to_table(&self) -> Result<toml::Table> {
        Ok(match self {
            TaskConfig::Classify(c) => toml::Table::try_from(c)?,
            TaskConfig::CharLm(c) => toml::Table::try_from(c)?,
            TaskConfig::Seq2Seq(c) => toml::Table::try_from(c)?,
        })
    }

    fn seed(&self) -> u64 {
        match self {
            TaskConfig::Classify(c) => c.seed,
            TaskConfig::CharLm(c) => c.seed,
            TaskConfig::Seq2Seq(c) => c.seed,
        }
    }

    fn device(&self) -> DeviceChoice {
        match self {
            TaskConfig::Classify(c) => c.device,
            TaskConfig::CharLm(c) => c.device,
            TaskConfig::Seq2Seq(c) => c.device,
        }
    }

    /// The task's trainer, its data loaded and its network built.
    fn trainer(&self, device: tch::Device) -> Result<Box<dyn Trainer>> {
        Ok(match self {
            TaskConfig::Classify(c) => Box::new(Classifier::new(c.clone(), device)?),
            TaskConfig::CharLm(c) => Box::new(CharLm::new(c.clone(), device)?),
            TaskConfig::Seq2Seq(c) => Box::new(Seq2SeqTrainer::new(c.clone(), device)?),
        })
    }
}

/// Reads a supervised run folder's resolved config.
pub fn read_config(run_dir: &Path) -> Result<TaskConfig> {
    let path = run_dir.join(CONFIG_FILE);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {} (is {} a run folder?)", path.display(), run_dir.display()))?;
    let table: toml::Table = toml::from_str(&text).with_context(|| format!("{} is not valid TOML", path.display()))?;
    TaskConfig::from_table(table).with_context(|| format!("{} (saved config)", path.display()))
}

/// Epochs finished, optimizer steps taken and updates skipped by the NaN guard: what a checkpoint counts.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Progress {
    pub epoch: usize,
    pub step: u64,
    pub skipped_updates: u64,
}

/// One optimizer update of a supervised loss, with the NaN guard: a non-finite loss or gradient stops training
/// with a one-line error (or, with `nan_policy = "skip"`, skips the update and counts it).
pub struct Update {
    pub lr: f64,
    pub max_grad_norm: Option<f64>,
    pub nan_policy: guard::NanPolicy,
}

impl Update {
    /// Backpropagates `loss` and steps; the loss value, or `None` when the update was skipped.
    pub fn apply(
        &self,
        optimizer: &mut Optimizer,
        loss: &tch::Tensor,
        progress: &mut Progress,
        logger: &mut Logger,
    ) -> Result<Option<f64>> {
        let value = loss.double_value(&[]);
        let result =
            if value.is_finite() { optimizer.backward_step(loss, self.lr, self.max_grad_norm) } else { Err(value) };
        progress.step += 1;
        match result {
            Ok(_) => Ok(Some(value)),
            Err(bad) => {
                let what = if value.is_finite() { "gradient of the cross-entropy loss" } else { "cross-entropy loss" };
                guard::non_finite(self.nan_policy, what, bad, progress.step)?;
                progress.skipped_updates += 1;
                logger.scalar("charts/skipped_updates", progress.skipped_updates as f64, progress.step);
                Ok(None)
            }
        }
    }
}

/// The checkpoint of a supervised run: rlx's one format for a trained network ([`checkpoint::save_trained`]: its
/// variables, batch-norm statistics included, the optimizer's state and the counters).
pub fn save_checkpoint(
    path: &Path,
    vs: &tch::nn::VarStore,
    optimizer: &Optimizer,
    task: &str,
    progress: &Progress,
) -> Result<()> {
    let state = serde_json::json!({
        "algo": "supervised",
        "env_id": task,
        "epoch": progress.epoch,
        "step": progress.step,
        "skipped_updates": progress.skipped_updates,
    });
    Ok(checkpoint::save_trained(path, vs, optimizer, state)?)
}

/// Restores what [`save_checkpoint`] wrote into `vs` and `optimizer`; a checkpoint of another task or network is
/// a one-line error.
pub fn load_checkpoint(path: &Path, vs: &tch::nn::VarStore, optimizer: &mut Optimizer, task: &str) -> Result<Progress> {
    let state = checkpoint::load_trained(path, vs, Some(optimizer), "supervised", task)?;
    let number = |key: &str| {
        state[key].as_u64().ok_or_else(|| anyhow::anyhow!("{}: state field `{key}` missing", path.display()))
    };
    Ok(Progress {
        epoch: number("epoch")? as usize,
        step: number("step")?,
        skipped_updates: number("skipped_updates")?,
    })
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
        if !step.is_multiple_of(interval as u64) || self.window_count == 0 {
            return;
        }
        let mean = self.window_sum / self.window_count as f64;
        logger.scalar("train/loss", mean, step);
        logger.scalar("charts/learning_rate", lr, step);
        logger.progress_with(step, message(mean));
        (self.window_sum, self.window_count) = (0.0, 0);
    }
}

/// One-line errors for the fields every supervised config has.
pub fn check_common(learning_rate: f64, schedule: &str, schedules: &[&str], dropout: f64) -> Result<()> {
    if !schedules.contains(&schedule) {
        bail!("unknown lr_schedule `{schedule}` (known: {})", schedules.join(", "));
    }
    if learning_rate.is_nan() || learning_rate <= 0.0 {
        bail!("learning_rate must be positive");
    }
    if !(0.0..1.0).contains(&dropout) {
        bail!("dropout must be in [0, 1)");
    }
    Ok(())
}

/// Cross-entropy of per-position logits (B, T, V) against targets (B, T), positions holding `ignore` left out.
pub fn sequence_loss(
    logits: &tch::Tensor,
    targets: &tch::Tensor,
    reduction: tch::Reduction,
    ignore: i64,
) -> tch::Tensor {
    let vocab = logits.size()[2];
    logits.reshape([-1, vocab]).cross_entropy_loss::<tch::Tensor>(&targets.reshape([-1]), None, reduction, ignore, 0.0)
}

/// The [`Trainer`] methods every task forwards to its own inherent ones of the same names.
macro_rules! forward_trainer_basics {
    ($ty:ty) => {
        fn task(&self) -> &str {
            &self.config.task
        }
        fn epochs(&self) -> usize {
            self.config.epochs
        }
        fn progress(&self) -> Progress {
            self.progress
        }
        fn total_steps(&self) -> u64 {
            <$ty>::total_steps(self)
        }
        fn train_epoch(&mut self, logger: &mut Logger) -> Result<Option<f64>> {
            <$ty>::train_epoch(self, logger)
        }
        fn save(&self, path: &Path) -> Result<()> {
            save_checkpoint(path, &self.vs, &self.optimizer, &self.config.task, &self.progress)
        }
        fn load(&mut self, path: &Path) -> Result<()> {
            self.progress = load_checkpoint(path, &self.vs, &mut self.optimizer, &self.config.task)?;
            Ok(())
        }
    };
}

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
    /// Printed after the last epoch (a text sample for language models).
    fn epilogue(&self) -> Result<Option<String>> {
        Ok(None)
    }
}

impl Trainer for Classifier {
    forward_trainer_basics!(Classifier);
    fn describe(&self) -> String {
        format!(
            "{}, {} parameters, {} on {}: {} training / {} held-out images",
            self.config.model,
            self.num_parameters(),
            self.config.optimizer,
            self.config.dataset,
            self.train.len(),
            self.test.len()
        )
    }
    fn evaluate(&mut self) -> Vec<(&'static str, f64)> {
        let eval = Classifier::evaluate(self, &self.test);
        vec![("val/loss", eval.loss), ("val/accuracy", eval.accuracy)]
    }
}

impl Trainer for CharLm {
    forward_trainer_basics!(CharLm);
    fn describe(&self) -> String {
        format!(
            "LSTM {}x{}, {} parameters, {} characters ({} distinct): {} training / {} held out",
            self.config.layers,
            self.config.hidden,
            self.num_parameters(),
            self.corpus.train.len() + self.corpus.test.len(),
            self.corpus.vocab.len(),
            self.corpus.train.len(),
            self.corpus.test.len()
        )
    }
    fn evaluate(&mut self) -> Vec<(&'static str, f64)> {
        let nats = CharLm::evaluate(self);
        vec![("val/loss", nats), ("val/bits_per_char", nats / std::f64::consts::LN_2)]
    }
    fn epilogue(&self) -> Result<Option<String>> {
        if self.config.sample_chars == 0 {
            return Ok(None);
        }
        let text =
            self.sample(&self.config.prompt, self.config.sample_chars, self.config.temperature, self.config.seed)?;
        Ok(Some(format!("sample (temperature {}):\n{text}", self.config.temperature)))
    }
}

impl Trainer for Seq2SeqTrainer {
    forward_trainer_basics!(Seq2SeqTrainer);
    fn describe(&self) -> String {
        format!(
            "GRU encoder-decoder {}x{}, {:?} attention, {} parameters: {} training / {} held-out examples",
            self.config.embed,
            self.config.hidden,
            self.config.attention,
            self.num_parameters(),
            self.data.train.len(),
            self.data.test.len()
        )
    }
    fn evaluate(&mut self) -> Vec<(&'static str, f64)> {
        let (loss, accuracy) = Seq2SeqTrainer::evaluate(self);
        vec![("val/loss", loss), ("val/accuracy", accuracy)]
    }
}

fn train(config: TaskConfig, run_dir: &Path, checkpoint: Option<&Path>, show_progress: bool) -> Result<()> {
    let device = config.device().resolve()?;
    // Data and network before the disk: a missing dataset leaves no run folder behind.
    let mut trainer = config.trainer(device)?;
    let task = trainer.task().to_string();
    if let Some(checkpoint) = checkpoint {
        trainer.load(checkpoint)?;
        if trainer.progress().epoch >= trainer.epochs() {
            println!(
                "{} is complete ({} of {} epochs); to train further: rlx supervised --resume {0} --set epochs=N",
                run_dir.display(),
                trainer.progress().epoch,
                trainer.epochs()
            );
            return Ok(());
        }
        eprintln!("resuming {} at epoch {} of {}", run_dir.display(), trainer.progress().epoch + 1, trainer.epochs());
    } else {
        std::fs::create_dir_all(run_dir).with_context(|| format!("cannot create {}", run_dir.display()))?;
        let header = format!("# rlx supervised {task}: resolved config\n");
        config::write_atomic(&run_dir.join(CONFIG_FILE), &(header + &toml::to_string(&config.to_table()?)?))?;
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
                "rlx: interrupted in epoch {}; the checkpoint of epoch {epoch} stays: resume with rlx supervised \
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
        eprintln!(
            "epoch {epoch}/{}: train loss {train_loss:.4}, {} ({seconds:.1} s)",
            trainer.epochs(),
            shown.join(", ")
        );
        trainer.save(&run_dir.join(CHECKPOINT_FILE))?;
        last = metrics;
    }
    logger.finish();
    let wall = started.elapsed().as_secs_f64();
    let epochs = trainer.progress().epoch;
    let mut summary = serde_json::json!({
        "task": task,
        "seed": config.seed(),
        "epochs": epochs,
        "wall_time_s": wall,
        "seconds_per_epoch": wall / (epochs - first_epoch).max(1) as f64,
    });
    for (tag, value) in &last {
        summary[tag.replace('/', "_")] = serde_json::json!(value);
    }
    config::write_atomic(&run_dir.join(SUMMARY_FILE), &serde_json::to_string_pretty(&summary)?)?;
    let shown: Vec<String> = last.iter().map(|(tag, v)| format!("{tag} {v:.4}")).collect();
    println!("done: {epochs} epochs in {wall:.1} s, {}; run folder: {}", shown.join(", "), run_dir.display());
    if let Some(text) = trainer.epilogue()? {
        println!("{text}");
    }
    Ok(())
}

/// `rlx supervised eval RUN_DIR`: the held-out metrics of the run's checkpoint; for classifiers also the
/// per-class accuracy, and the confusion matrix in `RUN_DIR/confusion.csv` (row: true class, column: predicted).
fn eval(run_dir: &Path, device: DeviceChoice) -> Result<()> {
    let mut config = read_config(run_dir)?;
    let checkpoint = run_dir.join(CHECKPOINT_FILE);
    match &mut config {
        TaskConfig::CharLm(c) => {
            c.device = device;
            let mut lm = CharLm::new(c.clone(), device.resolve()?)?;
            lm.load(&checkpoint)?;
            println!(
                "task {} after {} epochs, {} held-out characters",
                c.task,
                lm.progress.epoch,
                lm.corpus.test.len()
            );
            for (tag, value) in Trainer::evaluate(&mut lm) {
                println!("{} {value:.4}", tag.replace('/', "_"));
            }
            Ok(())
        }
        TaskConfig::Seq2Seq(c) => {
            c.device = device;
            let mut trainer = Seq2SeqTrainer::new(c.clone(), device.resolve()?)?;
            trainer.load(&checkpoint)?;
            let (loss, accuracy) = trainer.evaluate();
            println!(
                "task {} after {} epochs, {} held-out examples",
                c.task,
                trainer.progress.epoch,
                trainer.data.test.len()
            );
            println!("val_loss {loss:.4}");
            println!("val_accuracy {accuracy:.4}");
            Ok(())
        }
        TaskConfig::Classify(c) => {
            c.device = device;
            let mut classifier = Classifier::new(c.clone(), device.resolve()?)?;
            classifier.load(&checkpoint)?;
            let eval = classifier.evaluate(&classifier.test);
            println!(
                "task {} after {} epochs, {} held-out images",
                c.task,
                classifier.progress.epoch,
                classifier.test.len()
            );
            println!("val_loss {:.4}", eval.loss);
            println!("val_accuracy {:.4}", eval.accuracy);
            let per_class: Vec<String> = eval
                .confusion
                .iter()
                .enumerate()
                .map(|(k, row)| format!("{k}: {:.1}%", 100.0 * row[k] as f64 / row.iter().sum::<u64>().max(1) as f64))
                .collect();
            println!("per class: {}", per_class.join(", "));
            let csv: String = eval
                .confusion
                .iter()
                .map(|row| row.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(",") + "\n")
                .collect();
            let path = run_dir.join(CONFUSION_FILE);
            config::write_atomic(&path, &csv)?;
            println!("confusion matrix: {}", path.display());
            Ok(())
        }
    }
}

/// `rlx supervised sample RUN_DIR`: text from a character language model's checkpoint.
fn sample(run_dir: &Path, device: DeviceChoice, args: &SupervisedArgs) -> Result<()> {
    let TaskConfig::CharLm(mut config) = read_config(run_dir)? else {
        bail!("{} is not a language-model run: only char-lstm samples text", run_dir.display());
    };
    config.device = device;
    let mut lm = CharLm::new(config.clone(), device.resolve()?)?;
    lm.load(&run_dir.join(CHECKPOINT_FILE))?;
    let prompt = args.prompt.clone().unwrap_or(config.prompt.clone());
    let temperature = args.temperature.unwrap_or(config.temperature);
    if temperature.is_nan() || temperature <= 0.0 {
        bail!("--temperature must be positive");
    }
    println!("{}", lm.sample(&prompt, args.chars, temperature, args.options.seed.unwrap_or(config.seed))?);
    Ok(())
}

/// `rlx supervised translate RUN_DIR TEXT...`: a seq2seq run's outputs, and the first one's attention map.
fn translate(run_dir: &Path, device: DeviceChoice, args: &SupervisedArgs) -> Result<()> {
    let TaskConfig::Seq2Seq(mut config) = read_config(run_dir)? else {
        bail!("{} is not a seq2seq run: only seq2seq-addition and seq2seq-dates translate", run_dir.display());
    };
    if args.inputs.is_empty() {
        bail!("usage: rlx supervised translate RUN_DIR TEXT... (for example \"535+61\")");
    }
    config.device = device;
    let mut trainer = Seq2SeqTrainer::new(config, device.resolve()?)?;
    trainer.load(&run_dir.join(CHECKPOINT_FILE))?;
    for (i, input) in args.inputs.iter().enumerate() {
        let (output, attention) = trainer.translate(input, args.beam)?;
        println!("{input} -> {output}");
        if let (0, Some(path)) = (i, &args.attention) {
            attention_map::write_png(path, input, &output, &attention)?;
            println!("attention map: {}", path.display());
        }
    }
    Ok(())
}
