//! Sequence-to-sequence tasks (multi-digit addition, date normalization) with a GRU encoder-decoder and attention:
//! examples generated from the seed (held-out ones never seen in training), minibatches shuffled per epoch and
//! padded to their longest member, teacher forcing (each step fed the true previous character with probability
//! `teacher_forcing`, else the model's own guess), cross-entropy over the target characters and EOS, gradient
//! clipping, Adam. Reported: held-out loss and exact-sequence accuracy with greedy decoding; `rlx supervised
//! translate` decodes strings given on the command line (greedy or beam search) and draws the attention map.

use super::{check_common, scheduled_lr, seed_epoch, sequence_loss, EpochLoss, Progress, Update};
use anyhow::{bail, Result};
use rand::seq::SliceRandom;
use rand::Rng;
use rlx_agents::device::DeviceChoice;
use rlx_agents::guard;
use rlx_agents::logger::Logger;
use rlx_models::seq_data::{self, CharVocab, SeqTask, EOS, PAD};
use rlx_models::{AdamConfig, Attention, Optimizer, Rule, Seq2Seq, Seq2SeqConfig};
use serde::{Deserialize, Serialize};
use tch::nn;
use tch::{Device, Kind, Tensor};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Seq2SeqTaskConfig {
    /// `seq2seq-addition` or `seq2seq-dates`.
    pub task: String,
    /// Generated training and held-out examples.
    pub n_train: usize,
    pub n_test: usize,
    /// Draw a new set of `n_train` training examples every epoch (from `(seed, epoch)`; held-out sources still
    /// excluded) instead of repeating the first one: the task's generator as an endless data source (false).
    pub fresh_examples: bool,
    /// Addition: the most digits of an operand (3).
    pub digits: u32,
    pub embed: i64,
    pub hidden: i64,
    /// `bahdanau` (additive) or `luong` (multiplicative, with input feeding).
    pub attention: Attention,
    pub dropout: f64,
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    /// `constant` or `cosine`.
    pub lr_schedule: String,
    pub max_grad_norm: f64,
    /// Probability that a decoder step is fed the true previous character (1.0: always, plain teacher forcing).
    pub teacher_forcing: f64,
    pub log_interval: usize,
    pub nan_policy: guard::NanPolicy,
    pub seed: u64,
    pub device: DeviceChoice,
}

impl Default for Seq2SeqTaskConfig {
    fn default() -> Self {
        Seq2SeqTaskConfig {
            task: String::new(),
            n_train: 50_000,
            n_test: 5_000,
            fresh_examples: false,
            digits: 3,
            embed: 32,
            hidden: 128,
            attention: Attention::Bahdanau,
            dropout: 0.1,
            epochs: 20,
            batch_size: 128,
            learning_rate: 2e-3,
            lr_schedule: "cosine".into(),
            max_grad_norm: 1.0,
            teacher_forcing: 1.0,
            log_interval: 50,
            nan_policy: guard::NanPolicy::Error,
            seed: 0,
            device: DeviceChoice::Auto,
        }
    }
}

impl Seq2SeqTaskConfig {
    pub fn validate(&self) -> Result<()> {
        if !["seq2seq-addition", "seq2seq-dates"].contains(&self.task.as_str()) {
            bail!("unknown seq2seq task `{}` (known: seq2seq-addition, seq2seq-dates)", self.task);
        }
        if self.n_train == 0 || self.n_test == 0 || self.epochs == 0 || self.batch_size == 0 || self.log_interval == 0 {
            bail!("n_train, n_test, epochs, batch_size and log_interval must be positive");
        }
        if !(1..=9).contains(&self.digits) || self.embed <= 0 || self.hidden <= 0 {
            bail!("digits must be 1 to 9, embed and hidden positive");
        }
        check_common(self.learning_rate, &self.lr_schedule, &["constant", "cosine"], self.dropout)?;
        if !(0.0..=1.0).contains(&self.teacher_forcing) {
            bail!("teacher_forcing must be in [0, 1]");
        }
        Ok(())
    }

    /// The examples: generated from the seed, the same on every run.
    fn generate(&self) -> SeqTask {
        match self.task.as_str() {
            "seq2seq-addition" => seq_data::addition(self.n_train, self.n_test, self.digits, self.seed),
            _ => seq_data::dates(self.n_train, self.n_test, self.seed),
        }
    }
}

/// A batch: sources (B, S) and targets with EOS (B, T), PAD-padded.
fn batch(pairs: &[&(String, String)], source: &CharVocab, target: &CharVocab) -> (Tensor, Tensor) {
    let pad = |rows: Vec<Vec<i64>>| {
        let width = rows.iter().map(Vec::len).max().unwrap_or(1);
        let flat: Vec<i64> =
            rows.iter().flat_map(|r| r.iter().copied().chain(std::iter::repeat_n(PAD, width - r.len()))).collect();
        Tensor::from_slice(&flat).reshape([rows.len() as i64, width as i64])
    };
    let sources = pairs.iter().map(|p| source.encode(&p.0).expect("generated text is in its vocabulary")).collect();
    let targets = pairs
        .iter()
        .map(|p| {
            let mut ids = target.encode(&p.1).expect("generated text is in its vocabulary");
            ids.push(EOS);
            ids
        })
        .collect();
    (pad(sources), pad(targets))
}

pub struct Seq2SeqTrainer {
    pub config: Seq2SeqTaskConfig,
    pub vs: nn::VarStore,
    pub model: Seq2Seq,
    pub(super) optimizer: Optimizer,
    pub data: SeqTask,
    pub source_vocab: CharVocab,
    pub target_vocab: CharVocab,
    pub progress: Progress,
}

impl Seq2SeqTrainer {
    pub fn new(config: Seq2SeqTaskConfig, device: Device) -> Result<Self> {
        config.validate()?;
        let data = config.generate();
        // The vocabularies come from the task's whole alphabet, so they do not depend on which examples were drawn.
        let alphabet = match config.task.as_str() {
            "seq2seq-addition" => (seq_data::ADDITION_ALPHABET.to_string(), "0123456789"),
            _ => (seq_data::date_alphabet(), "0123456789-"),
        };
        let source_vocab = CharVocab::from_texts([alphabet.0.as_str()]);
        let target_vocab = CharVocab::from_texts([alphabet.1]);
        tch::manual_seed(config.seed as i64);
        let vs = nn::VarStore::new(device);
        let shape = Seq2SeqConfig {
            source_vocab: source_vocab.len() as i64,
            target_vocab: target_vocab.len() as i64,
            embed: config.embed,
            hidden: config.hidden,
            attention: config.attention,
            dropout: config.dropout,
        };
        let model = Seq2Seq::new(&vs.root(), shape);
        let optimizer = Optimizer::with_rule(&vs, Rule::Adam(AdamConfig::default()));
        Ok(Seq2SeqTrainer {
            config,
            vs,
            model,
            optimizer,
            data,
            source_vocab,
            target_vocab,
            progress: Progress::default(),
        })
    }

    pub fn num_parameters(&self) -> i64 {
        self.optimizer.num_parameters()
    }

    pub fn total_steps(&self) -> u64 {
        (self.data.train.len().div_ceil(self.config.batch_size) * self.config.epochs) as u64
    }

    fn learning_rate_at(&self, step: u64) -> f64 {
        let c = &self.config;
        scheduled_lr(&c.lr_schedule, c.learning_rate, step, self.total_steps(), self.progress.epoch, c.epochs)
    }

    pub fn train_epoch(&mut self, logger: &mut Logger) -> Result<Option<f64>> {
        let epoch = self.progress.epoch;
        seed_epoch(self.config.seed, epoch);
        if self.config.fresh_examples && epoch > 0 {
            let c = &self.config;
            self.data.train = seq_data::fresh_training(&c.task, c.n_train, c.digits, c.seed, epoch);
        }
        let mut rng = rand_pcg::Pcg64::new(self.config.seed as u128, epoch as u128);
        let mut order: Vec<usize> = (0..self.data.train.len()).collect();
        order.shuffle(&mut rng);
        let device = self.vs.device();
        let mut losses = EpochLoss::default();
        for chunk in order.chunks(self.config.batch_size) {
            if guard::interrupted() {
                return Ok(None);
            }
            let pairs: Vec<&(String, String)> = chunk.iter().map(|&i| &self.data.train[i]).collect();
            let (source, target) = batch(&pairs, &self.source_vocab, &self.target_vocab);
            let (source, target) = (source.to_device(device), target.to_device(device)); // (B, S), (B, T)
            let steps = target.size()[1] as usize;
            let forcing: Vec<bool> = (0..steps).map(|_| rng.random_bool(self.config.teacher_forcing)).collect();
            let logits = self.model.forward_teacher(&source, &target, &forcing, true); // (B, T, V)
            let loss = sequence_loss(&logits, &target, tch::Reduction::Mean, PAD);
            let lr = self.learning_rate_at(self.progress.step);
            let clip = (self.config.max_grad_norm > 0.0).then_some(self.config.max_grad_norm);
            let update = Update { lr, max_grad_norm: clip, nan_policy: self.config.nan_policy };
            let Some(value) =
                update.apply(&mut self.optimizer, &loss, "cross-entropy loss", &mut self.progress, logger)?
            else {
                continue;
            };
            losses.add(value);
            losses.report(logger, self.progress.step, self.config.log_interval, lr, |mean| {
                format!("epoch {}  loss {mean:.4}", epoch + 1)
            });
        }
        self.progress.epoch += 1;
        Ok(Some(losses.mean()))
    }

    /// Held-out teacher-forced loss and greedy exact-sequence accuracy.
    pub fn evaluate(&self) -> (f64, f64) {
        let device = self.vs.device();
        let (mut loss_sum, mut tokens, mut correct) = (0.0, 0i64, 0usize);
        tch::no_grad(|| {
            for chunk in self.data.test.chunks(500) {
                let pairs: Vec<&(String, String)> = chunk.iter().collect();
                let (source, target) = batch(&pairs, &self.source_vocab, &self.target_vocab);
                let (source, target) = (source.to_device(device), target.to_device(device));
                let steps = target.size()[1] as usize;
                let logits = self.model.forward_teacher(&source, &target, &vec![true; steps], false);
                loss_sum += sequence_loss(&logits, &target, tch::Reduction::Sum, PAD).double_value(&[]);
                tokens += target.ne(PAD).sum(Kind::Int64).int64_value(&[]);
                let (ids, _) = self.model.greedy(&source, steps as i64 + 2);
                let rows: Vec<Vec<i64>> = Vec::try_from(ids.to_device(Device::Cpu)).unwrap_or_default();
                correct += rows.iter().zip(chunk).filter(|(row, pair)| self.target_vocab.decode(row) == pair.1).count();
            }
        });
        (loss_sum / tokens.max(1) as f64, correct as f64 / self.data.test.len().max(1) as f64)
    }

    /// Decodes `text` (greedy when `beam` is 1): the output and its attention (output steps, source characters).
    pub fn translate(&self, text: &str, beam: usize) -> Result<(String, Vec<Vec<f32>>)> {
        let ids = self
            .source_vocab
            .encode(text)
            .map_err(|c| anyhow::anyhow!("{c:?} is not a character of this task's inputs"))?;
        if ids.is_empty() {
            bail!("nothing to translate: the input is empty");
        }
        let source = Tensor::from_slice(&ids).reshape([1, -1]).to_device(self.vs.device());
        let max_len = 4 * ids.len() + 12;
        let (output, attention) = if beam <= 1 {
            let (out, attention) = self.model.greedy(&source, max_len as i64);
            (Vec::<i64>::try_from(out.get(0).to_device(Device::Cpu))?, attention.get(0))
        } else {
            self.model.beam(&source, beam, max_len)
        };
        let text = self.target_vocab.decode(&output);
        // One row per output character and one for EOS.
        let rows = (text.chars().count() + 1).min(attention.size()[0] as usize);
        let attention: Vec<Vec<f32>> = Vec::try_from(attention.narrow(0, 0, rows as i64).to_device(Device::Cpu))?;
        Ok((text, attention))
    }
}
