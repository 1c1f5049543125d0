//! Training a VAE on MNIST or Fashion-MNIST: minibatches shuffled per epoch from the seed, the negative ELBO per
//! image as the loss (optionally on images binarized afresh each time they are drawn, "dynamic binarization"),
//! Adam. Reported each epoch: the held-out negative ELBO in nats per image and bits per pixel, its reconstruction
//! and KL parts, and the Fréchet distance of decoded prior samples; a grid of samples from a fixed set of latents
//! and a latent-space interpolation grid are written to the run folder.

use super::fid::{images_of, sample_of};
use super::grid::write_grid;
use super::{
    fid_if_due, image_generator_basics, load_split, write_epoch_grid, GenerativeConfig, ImageGenerator, Metric,
};
use crate::epochs::{load_checkpoint, save_checkpoint, trainer_basics, EpochLoss, Progress, Trainer};
use anyhow::Result;
use rlx_agents::logger::Logger;
use rlx_models::data::ImageSet;
use rlx_models::{AdamConfig, Optimizer, Rule, Vae, VaeConfig};
use std::path::Path;
use std::sync::Arc;
use tch::{nn, Device, Kind, Tensor};

pub struct VaeTrainer {
    pub config: GenerativeConfig,
    pub vs: nn::VarStore,
    pub model: Vae,
    pub(super) optimizer: Optimizer,
    pub train: Arc<ImageSet>,
    pub test: Arc<ImageSet>,
    /// The held-out images as evaluated (N, 1, 28, 28): grey levels, or one fixed binarization of them.
    pub test_images: Tensor,
    pub metric: Option<Metric>,
    pub progress: Progress,
}

impl VaeTrainer {
    pub fn new(config: GenerativeConfig, device: Device) -> Result<Self> {
        config.validate()?;
        let split = load_split(&config.dataset, &config.data)?;
        let metric = Metric::load(&config, &split.test, device)?;
        let mut test_images = images_of(&split.test, usize::MAX);
        if config.binarize {
            tch::manual_seed(0x5eed_b1a5);
            test_images = test_images.bernoulli();
        }
        tch::manual_seed(config.seed as i64);
        let vs = nn::VarStore::new(device);
        let shape = VaeConfig {
            arch: config.arch,
            latent: config.latent,
            hidden: config.hidden,
            likelihood: config.likelihood,
            gaussian_sigma: config.gaussian_sigma,
        };
        let model = Vae::new(&vs.root(), shape);
        let optimizer = Optimizer::with_rule(&vs, Rule::Adam(AdamConfig::default()));
        Ok(VaeTrainer {
            config,
            vs,
            model,
            optimizer,
            train: Arc::new(split.train),
            test: Arc::new(split.test),
            test_images,
            metric,
            progress: Progress::default(),
        })
    }

    pub fn num_parameters(&self) -> i64 {
        self.optimizer.num_parameters()
    }

    pub fn total_steps(&self) -> u64 {
        self.config.total_steps(self.train.len())
    }

    /// One epoch; logs `train/loss` (the negative ELBO, nats per image) and `train/elbo`.
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
            let mut x = images.to_device(device); // (B, 1, 28, 28)
            if self.config.binarize {
                x = x.bernoulli();
            }
            let loss = self.model.elbo(&x).negative().mean(Kind::Float);
            let update = self.config.update_at(self.progress.step, total, epoch);
            let Some(value) = update.apply(&mut self.optimizer, &loss, "negative ELBO", &mut self.progress, logger)?
            else {
                continue;
            };
            losses.add(value);
            let step = self.progress.step;
            if step.is_multiple_of(self.config.log_interval as u64) {
                logger.scalar("train/elbo", -value, step);
            }
            losses.report(logger, step, self.config.log_interval, update.lr, |mean| {
                format!("epoch {}  -elbo {mean:.2} nats", epoch + 1)
            });
        }
        self.progress.epoch += 1;
        Ok(Some(losses.mean()))
    }

    /// The held-out negative ELBO per image and its reconstruction and KL parts (means, nats), with one fixed draw
    /// of the reparameterization noise.
    pub fn test_elbo(&self) -> (f64, f64, f64) {
        tch::manual_seed(0x0e1b0);
        let device = self.vs.device();
        let (mut reconstruction, mut kl) = (0.0, 0.0);
        let n = self.test_images.size()[0];
        tch::no_grad(|| {
            for start in (0..n).step_by(1000) {
                let x = self.test_images.narrow(0, start, 1000.min(n - start)).to_device(device);
                let elbo = self.model.elbo(&x);
                reconstruction += elbo.reconstruction.sum(Kind::Double).double_value(&[]);
                kl += elbo.kl.sum(Kind::Double).double_value(&[]);
            }
        });
        let n = n.max(1) as f64;
        ((reconstruction + kl) / n, reconstruction / n, kl / n)
    }

    /// The importance-weighted NLL estimate with `k` samples, mean over the first `images` held-out images (nats).
    pub fn test_nll(&self, k: i64, images: i64) -> f64 {
        tch::manual_seed(0x11e1);
        let device = self.vs.device();
        let n = self.test_images.size()[0].min(images);
        let batch = 100;
        let mut total = 0.0;
        for start in (0..n).step_by(batch as usize) {
            let x = self.test_images.narrow(0, start, batch.min(n - start)).to_device(device);
            total += self.model.iwae_nll(&x, k, 25.min(k)).sum(Kind::Double).double_value(&[]);
        }
        total / n.max(1) as f64
    }

    /// `n` images decoded from prior samples z ~ N(0, I) drawn from `seed`: (n, 1, 28, 28) in [0, 1], the
    /// decoder's means (what sample grids and the Fréchet distance use, as is usual for VAEs).
    pub fn sample(&self, n: i64, seed: u64) -> Tensor {
        tch::manual_seed(seed as i64);
        let z = Tensor::randn([n, self.config.latent], (Kind::Float, self.vs.device()));
        tch::no_grad(|| {
            let chunks: Vec<Tensor> =
                (0..n).step_by(1000).map(|s| self.model.decode(&z.narrow(0, s, 1000.min(n - s)))).collect();
            Tensor::cat(&chunks, 0)
        })
    }

    /// Rows of decoded straight lines between the posterior means of pairs of held-out images (a fixed random
    /// draw; the real images at both ends): `rows` x (`steps` + 2) images.
    pub fn interpolation(&self, rows: i64, steps: i64) -> Tensor {
        let device = self.vs.device();
        tch::no_grad(|| {
            let ends = sample_of(&self.test, 2 * rows as usize, 7).to_device(device); // (2 rows, 1, 28, 28)
            let (mu, _) = self.model.encode(&ends);
            let (a, b) = (mu.narrow(0, 0, rows), mu.narrow(0, rows, rows)); // (rows, Z) each
            let t = Tensor::linspace(0.0, 1.0, steps, (Kind::Float, device)).view([1, steps, 1]);
            let z = a.unsqueeze(1) * (-&t + 1.0) + b.unsqueeze(1) * &t; // (rows, steps, Z)
            let middle = self.model.decode(&z.view([rows * steps, -1])).view([rows, steps, 1, 28, 28]);
            let first = ends.narrow(0, 0, rows).unsqueeze(1);
            let last = ends.narrow(0, rows, rows).unsqueeze(1);
            Tensor::cat(&[first, middle, last], 1).view([rows * (steps + 2), 1, 28, 28])
        })
    }

    pub fn evaluate(&mut self) -> Vec<(&'static str, f64)> {
        let (loss, reconstruction, kl) = self.test_elbo();
        let mut metrics = vec![
            ("val/loss", loss),
            ("val/elbo", -loss),
            ("val/bits_per_dim", loss / (784.0 * std::f64::consts::LN_2)),
            ("val/reconstruction", reconstruction),
            ("val/kl", kl),
        ];
        metrics.extend(fid_if_due(self, self.progress.epoch));
        metrics
    }
}

impl Trainer for VaeTrainer {
    trainer_basics!(VaeTrainer);
    fn describe(&self) -> String {
        format!(
            "{:?} VAE, latent {}, {:?} decoder, {} parameters: {} training / {} held-out images",
            self.config.arch,
            self.config.latent,
            self.config.likelihood,
            self.num_parameters(),
            self.train.len(),
            self.test.len()
        )
    }
    fn evaluate(&mut self) -> Vec<(&'static str, f64)> {
        VaeTrainer::evaluate(self)
    }
    fn save(&self, path: &Path) -> Result<()> {
        save_checkpoint(path, &self.vs, &self.optimizer, "generative", &self.config.task, &self.progress)
    }
    fn load(&mut self, path: &Path) -> Result<()> {
        self.progress = load_checkpoint(path, &self.vs, &mut self.optimizer, "generative", &self.config.task)?;
        Ok(())
    }
    /// The epoch's sample grid and the latent interpolation grid.
    fn after_epoch(&mut self, run_dir: &Path) -> Result<()> {
        write_epoch_grid(self, run_dir)?;
        write_grid(&run_dir.join("interpolation.png"), &self.interpolation(8, 8), 10)
    }
    fn epilogue(&self) -> Result<Option<String>> {
        Ok(Some("sample grids: samples/epoch_NNN.png and interpolation.png in the run folder".into()))
    }
}

impl ImageGenerator for VaeTrainer {
    image_generator_basics!(VaeTrainer);
    fn eval_lines(&self) -> Vec<String> {
        let (loss, reconstruction, kl) = self.test_elbo();
        let bits = loss / (784.0 * std::f64::consts::LN_2);
        let k = self.config.iwae_samples;
        let nll = self.test_nll(k, i64::MAX);
        vec![
            format!(
                "test_elbo {:.2} nats/image ({bits:.4} bits/dim; reconstruction {reconstruction:.2}, kl {kl:.2})",
                -loss
            ),
            format!("test_nll {nll:.2} nats/image (importance-weighted, k = {k})"),
        ]
    }
}
