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
//! `char_lm.rs`, seq2seq in `seq2seq.rs`) run by the epoch loop that `rlx generative` shares (`epochs.rs`); this
//! file holds the command, the task configs and what only the supervised tasks share.

mod attention_map;
pub mod char_lm;
pub mod classify;
pub mod seq2seq;

use crate::config;
pub use crate::epochs::{
    load_checkpoint, run_epochs, save_checkpoint, scheduled_lr, seed_epoch, EpochLoss, EpochRun, Progress, Trainer,
    Update,
};
use crate::train::{RunOptions, CHECKPOINT_FILE, CONFIG_FILE};
use anyhow::{bail, Context, Result};
use char_lm::{CharLm, CharLmConfig};
use classify::{Classifier, ClassifyConfig};
use rlx_agents::device::DeviceChoice;
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

/// The [`Trainer`] methods every supervised task shares: the basics, and a checkpoint of one network and optimizer.
macro_rules! forward_trainer_basics {
    ($ty:ty) => {
        crate::epochs::trainer_basics!($ty);
        fn save(&self, path: &Path) -> Result<()> {
            save_checkpoint(path, &self.vs, &self.optimizer, "supervised", &self.config.task, &self.progress)
        }
        fn load(&mut self, path: &Path) -> Result<()> {
            self.progress = load_checkpoint(path, &self.vs, &mut self.optimizer, "supervised", &self.config.task)?;
            Ok(())
        }
    };
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

/// Builds the task's trainer (data and network before the disk: a missing dataset leaves no run folder behind)
/// and runs its epochs.
fn train(config: TaskConfig, run_dir: &Path, checkpoint: Option<&Path>, show_progress: bool) -> Result<()> {
    let device = config.device().resolve()?;
    let mut trainer = config.trainer(device)?;
    let run = EpochRun {
        command: "supervised",
        run_dir,
        checkpoint,
        show_progress,
        seed: config.seed(),
        config: config.to_table()?,
    };
    run_epochs(trainer.as_mut(), device, run)
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
