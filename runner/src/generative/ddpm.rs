//! Training a denoising diffusion model on MNIST or Fashion-MNIST as Ho et al. 2020 did: images scaled to [-1, 1],
//! a step drawn uniformly per image, the simple noise-prediction loss, Adam with gradient clipping at norm 1, and
//! an exponential moving average of the weights that does the sampling. Samples come from DDIM's deterministic
//! sampler over a few dozen steps (`sampler = "ddim"`) or from DDPM's ancestral sampler through all T
//! (`"ancestral"`). Reported each epoch: the training loss, the moving average's loss on held-out images, and
//! the Fréchet distance of its samples when due.

use super::fid::sample_of;
use super::{
    fid_if_due, image_generator_basics, load_split, write_epoch_grid, GenerativeConfig, ImageGenerator, Metric,
};
use crate::epochs::{trainer_basics, EpochLoss, Progress, Trainer};
use anyhow::Result;
use rlx_agents::checkpoint;
use rlx_agents::logger::Logger;
use rlx_models::data::ImageSet;
use rlx_models::{AdamConfig, Diffusion, Optimizer, Rule, UNet, UNetConfig};
use std::path::Path;
use std::sync::Arc;
use tch::{nn, Device, Tensor};

pub struct DdpmTrainer {
    pub config: GenerativeConfig,
    pub vs: nn::VarStore,
    pub model: UNet,
    /// The moving average of the weights, as a network of its own: what samples.
    pub ema_vs: nn::VarStore,
    pub ema_model: UNet,
    /// (average, live) variable pairs, in name order.
    ema_pairs: Vec<(Tensor, Tensor)>,
    optimizer: Optimizer,
    pub diffusion: Diffusion,
    pub train: Arc<ImageSet>,
    pub test: Arc<ImageSet>,
    pub metric: Option<Metric>,
    pub progress: Progress,
}

impl DdpmTrainer {
    pub fn new(config: GenerativeConfig, device: Device) -> Result<Self> {
        config.validate()?;
        let split = load_split(&config.dataset, &config.data)?;
        let metric = Metric::load(&config, &split.test, device)?;
        tch::manual_seed(config.seed as i64);
        let shape = UNetConfig { channels: config.unet_channels, dropout: config.dropout };
        let vs = nn::VarStore::new(device);
        let model = UNet::new(&vs.root(), shape.clone());
        let mut ema_vs = nn::VarStore::new(device);
        let ema_model = UNet::new(&ema_vs.root(), shape);
        ema_vs.copy(&vs)?;
        ema_vs.freeze();
        let (mut live, mut average) = (vs.variables().into_iter().collect::<Vec<_>>(), ema_vs.variables());
        live.sort_by(|a, b| a.0.cmp(&b.0));
        let ema_pairs = live.into_iter().map(|(name, t)| (average.remove(&name).expect("same network"), t)).collect();
        let adam = Rule::Adam(AdamConfig { beta1: config.beta1, beta2: config.beta2, ..AdamConfig::default() });
        let optimizer = Optimizer::with_rule(&vs, adam);
        let diffusion = Diffusion::new(config.beta_schedule, config.diffusion_steps, device);
        Ok(DdpmTrainer {
            config,
            vs,
            model,
            ema_vs,
            ema_model,
            ema_pairs,
            optimizer,
            diffusion,
            train: Arc::new(split.train),
            test: Arc::new(split.test),
            metric,
            progress: Progress::default(),
        })
    }

    pub fn total_steps(&self) -> u64 {
        self.config.total_steps(self.train.len())
    }

    /// `average = decay * average + (1 - decay) * live` after every update, with the usual warm-up
    /// `decay = min(ema_decay, (1 + step) / (10 + step))` so that a short run's average does not stay near the
    /// untrained network (0.999 alone keeps 37% of the initial weights after 1,000 steps).
    fn update_ema(&mut self) {
        let step = self.progress.step as f64;
        let rate = 1.0 - self.config.ema_decay.min((1.0 + step) / (10.0 + step));
        tch::no_grad(|| {
            for (average, live) in &mut self.ema_pairs {
                let _ = average.lerp_(live, rate);
            }
        });
    }

    /// One epoch; logs `train/loss` (the noise-prediction MSE).
    pub fn train_epoch(&mut self, logger: &mut Logger) -> Result<Option<f64>> {
        let epoch = self.progress.epoch;
        let batches = self.config.epoch_batches(&self.train, epoch);
        let device = self.vs.device();
        let total = self.total_steps();
        let mut losses = EpochLoss::default();
        for (images, _) in batches {
            if rlx_agents::guard::interrupted() {
                return Ok(None);
            }
            let x0 = images.to_device(device) * 2.0 - 1.0; // (B, 1, 28, 28) in [-1, 1]
            let loss = self.diffusion.loss(&x0, |x, t| self.model.forward_t(x, t, true));
            let update = self.config.update_at(self.progress.step, total, epoch);
            let name = "noise-prediction loss";
            let Some(value) = update.apply(&mut self.optimizer, &loss, name, &mut self.progress, logger)? else {
                continue;
            };
            self.update_ema();
            losses.add(value);
            losses.report(logger, self.progress.step, self.config.log_interval, update.lr, |mean| {
                format!("epoch {}  loss {mean:.4}", epoch + 1)
            });
        }
        self.progress.epoch += 1;
        Ok(Some(losses.mean()))
    }

    /// The noise-prediction loss of the moving-average network on 1,000 held-out images, with steps and noise drawn
    /// from a fixed seed: comparable from epoch to epoch.
    pub fn held_out_loss(&self) -> f64 {
        tch::manual_seed(0x0de1);
        let x0 = sample_of(&self.test, 1000, 7).to_device(self.vs.device()) * 2.0 - 1.0;
        tch::no_grad(|| {
            let losses: Vec<f64> = (0..x0.size()[0])
                .step_by(250)
                .map(|start| {
                    let batch = x0.narrow(0, start, 250.min(x0.size()[0] - start));
                    let loss = self.diffusion.loss(&batch, |x, t| self.ema_model.forward_t(x, t, false));
                    loss.double_value(&[]) * batch.size()[0] as f64
                })
                .collect();
            losses.iter().sum::<f64>() / x0.size()[0] as f64
        })
    }

    /// `n` images from the moving-average network with the configured sampler, from noise drawn from `seed`:
    /// (n, 1, 28, 28) in [0, 1].
    pub fn sample(&self, n: i64, seed: u64) -> Tensor {
        tch::manual_seed(seed as i64);
        let device = self.vs.device();
        let model = |x: &Tensor, t: &Tensor| self.ema_model.forward_t(x, t, false);
        let c = &self.config;
        let chunks: Vec<Tensor> = (0..n)
            .step_by(500)
            .map(|start| {
                let size = 500.min(n - start);
                match c.sampler.as_str() {
                    "ancestral" => self.diffusion.sample_ancestral(size, [1, 28, 28], device, model),
                    _ => self.diffusion.sample_ddim(size, [1, 28, 28], c.ddim_steps, c.ddim_eta, device, model),
                }
            })
            .collect();
        (Tensor::cat(&chunks, 0) + 1.0) / 2.0
    }
}

impl Trainer for DdpmTrainer {
    trainer_basics!(DdpmTrainer);
    fn describe(&self) -> String {
        format!(
            "U-Net {} channels, {} parameters, {} steps {:?} schedule, {} sampling: {} training / {} held-out images",
            self.config.unet_channels,
            self.optimizer.num_parameters(),
            self.config.diffusion_steps,
            self.config.beta_schedule,
            self.config.sampler,
            self.train.len(),
            self.test.len()
        )
    }
    fn evaluate(&mut self) -> Vec<(&'static str, f64)> {
        let mut metrics = vec![("val/loss", self.held_out_loss())];
        metrics.extend(fid_if_due(self, self.progress.epoch));
        metrics
    }
    fn save(&self, path: &Path) -> Result<()> {
        let state = self.progress.state("generative", &self.config.task);
        let parts = [("", &self.vs, Some(&self.optimizer)), ("ema", &self.ema_vs, None)];
        Ok(checkpoint::save_trained_parts(path, &parts, state)?)
    }
    fn load(&mut self, path: &Path) -> Result<()> {
        let mut parts = [("", &self.vs, Some(&mut self.optimizer)), ("ema", &self.ema_vs, None)];
        let state = checkpoint::load_trained_parts(path, &mut parts, "generative", &self.config.task)?;
        self.progress = Progress::from_state(path, &state)?;
        Ok(())
    }
    fn after_epoch(&mut self, run_dir: &Path) -> Result<()> {
        write_epoch_grid(self, run_dir)
    }
    fn epilogue(&self) -> Result<Option<String>> {
        Ok(Some("sample grids: samples/epoch_NNN.png in the run folder".into()))
    }
}

impl ImageGenerator for DdpmTrainer {
    image_generator_basics!(DdpmTrainer);
}
