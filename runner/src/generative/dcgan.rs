//! Training DCGAN on MNIST or Fashion-MNIST the way Radford et al. and PyTorch's examples/dcgan do: per batch, one
//! discriminator step on a real and a generated batch (each through batch norm on its own), then one generator
//! step on the same generated batch, each network with its own Adam (2e-4, beta1 0.5). Reported each epoch: the
//! Fréchet distance of generated images and the discriminator's mean belief on real and generated batches; a grid
//! from a fixed set of latents shows progress.

use super::fid::sample_of;
use super::{
    fid_if_due, image_generator_basics, load_split, write_epoch_grid, GenerativeConfig, ImageGenerator, Metric,
};
use crate::epochs::{trainer_basics, EpochLoss, Progress, Trainer};
use anyhow::Result;
use rlx_agents::checkpoint;
use rlx_agents::logger::Logger;
use rlx_models::data::ImageSet;
use rlx_models::{dcgan_init, AdamConfig, Discriminator, Generator, Optimizer, Rule};
use std::path::Path;
use std::sync::Arc;
use tch::nn::{self, ModuleT};
use tch::{Device, Kind, Tensor};

pub struct GanTrainer {
    pub config: GenerativeConfig,
    pub generator_vs: nn::VarStore,
    pub discriminator_vs: nn::VarStore,
    pub generator: Generator,
    pub discriminator: Discriminator,
    generator_optimizer: Optimizer,
    discriminator_optimizer: Optimizer,
    pub train: Arc<ImageSet>,
    pub test: Arc<ImageSet>,
    pub metric: Option<Metric>,
    pub progress: Progress,
    /// The epoch's mean discriminator beliefs D(x) and D(G(z)), for the held-out report.
    beliefs: (f64, f64),
}

impl GanTrainer {
    pub fn new(config: GenerativeConfig, device: Device) -> Result<Self> {
        config.validate()?;
        let split = load_split(&config.dataset, &config.data)?;
        let metric = Metric::load(&config, &split.test, device)?;
        tch::manual_seed(config.seed as i64);
        let (generator_vs, discriminator_vs) = (nn::VarStore::new(device), nn::VarStore::new(device));
        let generator = Generator::new(&generator_vs.root(), config.latent, config.gan_width);
        let discriminator = Discriminator::new(&discriminator_vs.root(), config.gan_width);
        dcgan_init(&generator_vs);
        dcgan_init(&discriminator_vs);
        let adam = Rule::Adam(AdamConfig { beta1: config.beta1, beta2: config.beta2, ..AdamConfig::default() });
        let generator_optimizer = Optimizer::with_rule(&generator_vs, adam);
        let discriminator_optimizer = Optimizer::with_rule(&discriminator_vs, adam);
        Ok(GanTrainer {
            config,
            generator_vs,
            discriminator_vs,
            generator,
            discriminator,
            generator_optimizer,
            discriminator_optimizer,
            train: Arc::new(split.train),
            test: Arc::new(split.test),
            metric,
            progress: Progress::default(),
            beliefs: (f64::NAN, f64::NAN),
        })
    }

    pub fn total_steps(&self) -> u64 {
        self.config.total_steps(self.train.len())
    }

    /// One epoch; logs `train/loss_d`, `train/loss_g` and the discriminator's beliefs `train/d_real`,
    /// `train/d_fake` (means of sigmoid(logit)). Returns the generator's mean loss.
    pub fn train_epoch(&mut self, logger: &mut Logger) -> Result<Option<f64>> {
        let epoch = self.progress.epoch;
        let batches = self.config.epoch_batches(&self.train, epoch);
        let device = self.generator_vs.device();
        let total = self.total_steps();
        let loss = self.config.gan_loss;
        let (mut generator_losses, mut discriminator_losses) = (EpochLoss::default(), EpochLoss::default());
        let (mut real_belief, mut fake_belief) = (0.0, 0.0);
        for (images, _) in batches {
            if rlx_agents::guard::interrupted() {
                return Ok(None);
            }
            let update = self.config.update_at(self.progress.step, total, epoch);
            self.progress.step += 1;
            let step = self.progress.step;
            let real = images.to_device(device) * 2.0 - 1.0; // (B, 1, 28, 28) in [-1, 1]
            let z = Tensor::randn([real.size()[0], self.config.latent], (Kind::Float, device)); // (B, Z)
            let fake = self.generator.forward_t(&z, true); // (B, 1, 28, 28)

            // Discriminator: real batch up, generated batch (detached: no generator gradient) down.
            let real_logits = self.discriminator.forward_t(&real, true); // (B,)
            let fake_logits = self.discriminator.forward_t(&fake.detach(), true); // (B,)
            let loss_d = loss.discriminator(&real_logits, &fake_logits);
            let d = update.step(&mut self.discriminator_optimizer, &loss_d, "discriminator loss", step)?;
            // Generator: the same generated batch through the updated discriminator, pushed towards "real".
            let loss_g = loss.generator(&self.discriminator.forward_t(&fake, true));
            let g = update.step(&mut self.generator_optimizer, &loss_g, "generator loss", step)?;
            let (Some(d), Some(g)) = (d, g) else {
                self.progress.count_skipped(logger);
                continue;
            };
            discriminator_losses.add(d);
            generator_losses.add(g);
            real_belief += real_logits.sigmoid().mean(Kind::Float).double_value(&[]);
            fake_belief += fake_logits.sigmoid().mean(Kind::Float).double_value(&[]);
            let interval = self.config.log_interval;
            if step.is_multiple_of(interval as u64) {
                let n = generator_losses.count() as f64;
                logger.scalar("train/d_real", real_belief / n, step);
                logger.scalar("train/d_fake", fake_belief / n, step);
            }
            discriminator_losses.report_as(logger, "train/loss_d", step, interval);
            generator_losses.report_tagged(logger, "train/loss_g", step, interval, update.lr, |mean| {
                format!("epoch {}  loss_d {d:.3}  loss_g {mean:.3}", epoch + 1)
            });
        }
        let n = generator_losses.count().max(1) as f64;
        self.beliefs = (real_belief / n, fake_belief / n);
        self.progress.epoch += 1;
        Ok(Some(generator_losses.mean()))
    }

    /// `n` images from latents drawn from `seed`, in evaluation mode: (n, 1, 28, 28) in [0, 1].
    pub fn sample(&self, n: i64, seed: u64) -> Tensor {
        tch::manual_seed(seed as i64);
        let z = Tensor::randn([n, self.config.latent], (Kind::Float, self.generator_vs.device()));
        tch::no_grad(|| {
            let chunks: Vec<Tensor> =
                (0..n).step_by(1000).map(|s| self.generator.images(&z.narrow(0, s, 1000.min(n - s)))).collect();
            Tensor::cat(&chunks, 0)
        })
    }

    /// The discriminator's mean belief on the held-out images (evaluation mode): how real it finds real data.
    fn held_out_belief(&self) -> f64 {
        tch::no_grad(|| {
            let images = sample_of(&self.test, 2000, 7).to_device(self.discriminator_vs.device()) * 2.0 - 1.0;
            self.discriminator.forward_t(&images, false).sigmoid().mean(Kind::Float).double_value(&[])
        })
    }
}

impl Trainer for GanTrainer {
    trainer_basics!(GanTrainer);
    fn describe(&self) -> String {
        let parameters = |vs: &nn::VarStore| vs.trainable_variables().iter().map(Tensor::numel).sum::<usize>();
        format!(
            "DCGAN width {}, latent {}, {:?} loss, {} + {} parameters: {} training / {} held-out images",
            self.config.gan_width,
            self.config.latent,
            self.config.gan_loss,
            parameters(&self.generator_vs),
            parameters(&self.discriminator_vs),
            self.train.len(),
            self.test.len()
        )
    }
    fn evaluate(&mut self) -> Vec<(&'static str, f64)> {
        let mut metrics = vec![
            ("val/d_real", self.held_out_belief()),
            ("train/epoch_d_real", self.beliefs.0),
            ("train/epoch_d_fake", self.beliefs.1),
        ];
        metrics.extend(fid_if_due(self, self.progress.epoch));
        metrics
    }
    fn save(&self, path: &Path) -> Result<()> {
        let state = self.progress.state("generative", &self.config.task);
        let parts = [
            ("generator", &self.generator_vs, Some(&self.generator_optimizer)),
            ("discriminator", &self.discriminator_vs, Some(&self.discriminator_optimizer)),
        ];
        Ok(checkpoint::save_trained_parts(path, &parts, state)?)
    }
    fn load(&mut self, path: &Path) -> Result<()> {
        let mut parts = [
            ("generator", &self.generator_vs, Some(&mut self.generator_optimizer)),
            ("discriminator", &self.discriminator_vs, Some(&mut self.discriminator_optimizer)),
        ];
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

impl ImageGenerator for GanTrainer {
    image_generator_basics!(GanTrainer);
}
