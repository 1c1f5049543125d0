//! A GPT language model (Radford et al. 2019) as nanoGPT writes it: token and position embeddings, pre-norm
//! transformer blocks (LayerNorm -> causal self-attention -> residual, LayerNorm -> 4x MLP with GELU -> residual),
//! a final LayerNorm, and the output projection tied to the token embedding.
//!
//! Variables carry nanoGPT's `state_dict` names (`transformer.h.0.attn.c_attn.weight`, ...; the tied `lm_head` is
//! `transformer.wte.weight`), and start as nanoGPT starts them: every weight N(0, 0.02), the residual projections
//! (`c_proj`) N(0, 0.02 / sqrt(2 n_layer)), biases 0, LayerNorm gains 1.
//!
//! Beyond training on full blocks, the same forward pass serves batches of unequal lengths and incremental
//! decoding: an attention mask (1 = real token, 0 = padding, left or right) keeps padding out of every query's
//! keys and starts each row's positions at its first real token, and a [`KvCache`] keeps each layer's keys and
//! values so that sampling a token costs one position's work.

use rand::Rng;
use tch::nn;
use tch::{Kind, Tensor};

/// How a [`Gpt`] is shaped (nanoGPT's `GPTConfig`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GptConfig {
    /// Tokens in the vocabulary.
    pub vocab_size: i64,
    /// Longest sequence (positions in the position embedding).
    pub block_size: i64,
    pub n_layer: i64,
    pub n_head: i64,
    /// Width of the residual stream; a multiple of `n_head`.
    pub n_embd: i64,
    /// Dropout after the embeddings, on the attention weights and after each residual branch (training only).
    pub dropout: f64,
    /// Biases in the linear layers and LayerNorms (GPT-2: true).
    pub bias: bool,
}

/// The weight-decay grouping rule, stated once: every parameter with two or more dimensions (the matmul weights
/// and the embeddings) decays; biases and LayerNorm gains do not (nanoGPT's `configure_optimizers`).
pub fn decays(parameter: &Tensor) -> bool {
    parameter.dim() >= 2
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum GptError {
    #[error("a prompt of {prompt} tokens plus {new} new ones does not fit the model's block of {block} tokens")]
    TooLong { prompt: usize, new: usize, block: i64 },
    #[error("an empty prompt: give every row at least one token")]
    EmptyPrompt,
    #[error("bad sampling setting: {0}")]
    Sampling(String),
}

#[derive(Debug)]
struct LayerNorm {
    weight: Tensor,
    bias: Option<Tensor>,
}

impl LayerNorm {
    fn new(vs: nn::Path, dim: i64, bias: bool) -> Self {
        let weight = vs.var("weight", &[dim], nn::Init::Const(1.0));
        let bias = bias.then(|| vs.var("bias", &[dim], nn::Init::Const(0.0)));
        LayerNorm { weight, bias }
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        x.layer_norm(
            [*x.size().last().expect("a feature dimension")],
            Some(&self.weight),
            self.bias.as_ref(),
            1e-5,
            true,
        )
    }
}

fn linear(vs: nn::Path, inputs: i64, outputs: i64, std: f64, bias: bool) -> nn::Linear {
    let ws = vs.var("weight", &[outputs, inputs], nn::Init::Randn { mean: 0.0, stdev: std });
    let bs = bias.then(|| vs.var("bias", &[outputs], nn::Init::Const(0.0)));
    nn::Linear { ws, bs }
}

#[derive(Debug)]
struct Block {
    ln_1: LayerNorm,
    c_attn: nn::Linear,
    attn_proj: nn::Linear,
    ln_2: LayerNorm,
    c_fc: nn::Linear,
    mlp_proj: nn::Linear,
}

/// Which keys each query of a forward pass may attend to.
enum AttnMask {
    /// Plain causal attention over the block (training, no padding, nothing cached).
    Causal,
    /// (B, 1, T, P + T) true where query t may attend to key j.
    Explicit(Tensor),
}

/// Each layer's keys and values of the positions seen so far, and which of them are real tokens, for decoding a
/// batch one token at a time.
#[derive(Debug)]
pub struct KvCache {
    /// Per layer: keys and values (B, nh, P, hs).
    layers: Vec<(Tensor, Tensor)>,
    /// (B, P) i64: 1 where the cached position is a real token, 0 where it is padding.
    key_mask: Tensor,
}

impl KvCache {
    /// Positions cached so far (padding included).
    pub fn len(&self) -> i64 {
        self.key_mask.size()[1]
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Debug)]
pub struct Gpt {
    pub config: GptConfig,
    /// (V, C) token embedding, also the output projection.
    wte: Tensor,
    /// (block_size, C) position embedding.
    wpe: Tensor,
    blocks: Vec<Block>,
    ln_f: LayerNorm,
}

/// How to draw the next token: `temperature` divides the logits (0 = always the most likely token), `top_k` keeps
/// only the k most likely tokens.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Sampling {
    pub temperature: f64,
    pub top_k: Option<i64>,
}

impl Gpt {
    pub fn new(vs: &nn::Path, config: GptConfig) -> Self {
        assert!(config.n_embd % config.n_head == 0, "n_embd must be a multiple of n_head");
        let (c, bias) = (config.n_embd, config.bias);
        let std = 0.02;
        // The residual projections are scaled down with depth (GPT-2's init), so the stream's variance stays flat.
        let proj_std = 0.02 / (2.0 * config.n_layer as f64).sqrt();
        let t = vs / "transformer";
        let init = nn::Init::Randn { mean: 0.0, stdev: std };
        let wte = (&t / "wte").var("weight", &[config.vocab_size, c], init);
        let wpe = (&t / "wpe").var("weight", &[config.block_size, c], init);
        let blocks = (0..config.n_layer)
            .map(|i| {
                let h = &t / "h" / i;
                Block {
                    ln_1: LayerNorm::new(&h / "ln_1", c, bias),
                    c_attn: linear(&h / "attn" / "c_attn", c, 3 * c, std, bias),
                    attn_proj: linear(&h / "attn" / "c_proj", c, c, proj_std, bias),
                    ln_2: LayerNorm::new(&h / "ln_2", c, bias),
                    c_fc: linear(&h / "mlp" / "c_fc", c, 4 * c, std, bias),
                    mlp_proj: linear(&h / "mlp" / "c_proj", 4 * c, c, proj_std, bias),
                }
            })
            .collect();
        let ln_f = LayerNorm::new(&t / "ln_f", c, bias);
        Gpt { config, wte, wpe, blocks, ln_f }
    }

    /// Parameters without the position embedding, as nanoGPT counts them (the tied output weight counted once).
    pub fn num_parameters(&self, vs: &nn::VarStore) -> i64 {
        vs.trainable_variables().iter().map(|t| t.numel() as i64).sum::<i64>() - self.wpe.numel() as i64
    }

    pub fn device(&self) -> tch::Device {
        self.wte.device()
    }

    /// An empty cache for decoding `batch` rows.
    pub fn new_cache(&self, batch: i64) -> KvCache {
        KvCache { layers: Vec::new(), key_mask: Tensor::zeros([batch, 0], (Kind::Int64, self.wte.device())) }
    }

    /// The last LayerNorm's output (B, T, C) for tokens `idx` (B, T) i64.
    ///
    /// `attention_mask` (B, T), 1 for real tokens and 0 for padding, keeps padded keys out of attention and counts
    /// each row's positions from its first real token (padded queries attend to themselves only: their outputs are
    /// finite but meaningless). With a `cache`, `idx` continues the cached positions and is appended to them.
    pub fn hidden(
        &self,
        idx: &Tensor,
        attention_mask: Option<&Tensor>,
        cache: Option<&mut KvCache>,
        train: bool,
    ) -> Tensor {
        let (b, t) = idx.size2().expect("token ids (B, T)");
        let device = idx.device();
        let past = cache.as_ref().map_or(0, |c| c.len());
        let new_mask = match attention_mask {
            Some(m) => m.to_kind(Kind::Int64),
            None => Tensor::ones([b, t], (Kind::Int64, device)),
        };
        // (B, P + T): which keys are real, the cached ones first.
        let key_mask = match &cache {
            Some(c) => Tensor::cat(&[&c.key_mask, &new_mask], 1),
            None => new_mask.shallow_clone(),
        };
        let (positions, mask) = if attention_mask.is_none() && past == 0 {
            (Tensor::arange(t, (Kind::Int64, device)).unsqueeze(0), AttnMask::Causal)
        } else {
            // Row r's position of key j: the real tokens before it (so left padding shifts nothing).
            let positions = (key_mask.cumsum(1, Kind::Int64) - 1).clamp_min(0).narrow(1, past, t); // (B, T)
            let keys = Tensor::arange(past + t, (Kind::Int64, device)).unsqueeze(0); // (1, P + T)
            let queries = (Tensor::arange(t, (Kind::Int64, device)) + past).unsqueeze(1); // (T, 1)
            let causal = keys.le_tensor(&queries); // (T, P + T)
            let allowed = causal.unsqueeze(0).logical_and(&key_mask.to_kind(Kind::Bool).unsqueeze(1)); // (B, T, P + T)
            let mask = allowed.logical_or(&keys.eq_tensor(&queries).unsqueeze(0)).unsqueeze(1); // (B, 1, T, P + T)
            (positions, AttnMask::Explicit(mask))
        };
        assert!(past + t <= self.config.block_size, "{} positions exceed the block size", past + t);

        let embed = |table: &Tensor, ids: &Tensor| Tensor::embedding(table, ids, -1, false, false);
        let mut x = (embed(&self.wte, idx) + embed(&self.wpe, &positions)).dropout(self.config.dropout, train); // (B, T, C)
        let mut layers = cache.map(|c| {
            c.key_mask = key_mask;
            &mut c.layers
        });
        for (i, block) in self.blocks.iter().enumerate() {
            let kv = match layers.as_mut() {
                Some(l) => {
                    if l.len() <= i {
                        let (c, nh) = (self.config.n_embd, self.config.n_head);
                        let empty = Tensor::zeros([b, nh, 0, c / nh], (x.kind(), device));
                        l.push((empty.shallow_clone(), empty));
                    }
                    Some(&mut l[i])
                }
                None => None,
            };
            x = &x + self.attention(block, &block.ln_1.forward(&x), &mask, kv, train);
            let h = block.ln_2.forward(&x).apply(&block.c_fc).gelu("none").apply(&block.mlp_proj);
            x = &x + h.dropout(self.config.dropout, train);
        }
        self.ln_f.forward(&x)
    }

    /// Causal self-attention of one block: `x` (B, T, C) -> (B, T, C), appending this step's keys and values to
    /// `kv` when decoding.
    fn attention(
        &self,
        block: &Block,
        x: &Tensor,
        mask: &AttnMask,
        kv: Option<&mut (Tensor, Tensor)>,
        train: bool,
    ) -> Tensor {
        let (b, t, c) = x.size3().expect("(B, T, C)");
        let nh = self.config.n_head;
        let qkv = x.apply(&block.c_attn).split(c, 2); // 3 x (B, T, C)
        let heads = |z: &Tensor| z.view([b, t, nh, c / nh]).transpose(1, 2); // (B, nh, T, hs)
        let (q, mut k, mut v) = (heads(&qkv[0]), heads(&qkv[1]), heads(&qkv[2]));
        if let Some(kv) = kv {
            k = Tensor::cat(&[&kv.0, &k], 2); // (B, nh, P + T, hs)
            v = Tensor::cat(&[&kv.1, &v], 2);
            *kv = (k.shallow_clone(), v.shallow_clone());
        }
        let dropout = if train { self.config.dropout } else { 0.0 };
        let y = match mask {
            AttnMask::Causal => {
                Tensor::scaled_dot_product_attention::<Tensor>(&q, &k, &v, None, dropout, true, None, false)
            }
            AttnMask::Explicit(m) => {
                Tensor::scaled_dot_product_attention(&q, &k, &v, Some(m), dropout, false, None, false)
            }
        }; // (B, nh, T, hs)
        let y = y.transpose(1, 2).contiguous().view([b, t, c]).apply(&block.attn_proj);
        y.dropout(self.config.dropout, train)
    }

    /// Next-token logits (..., V) of hidden states (..., C), through the tied embedding.
    pub fn logits(&self, hidden: &Tensor) -> Tensor {
        hidden.matmul(&self.wte.tr())
    }

    /// Next-token logits (B, T, V) of a full block of tokens (B, T), causal, no padding.
    pub fn forward(&self, idx: &Tensor, train: bool) -> Tensor {
        self.logits(&self.hidden(idx, None, None, train))
    }

    /// Mean cross-entropy of predicting `targets` (B, T) from `idx` (B, T); targets of -1 are left out (nanoGPT's
    /// `ignore_index`, which SFT uses to train on response tokens only).
    pub fn loss(&self, idx: &Tensor, targets: &Tensor, train: bool) -> Tensor {
        let logits = self.forward(idx, train);
        let vocab = self.config.vocab_size;
        logits.reshape([-1, vocab]).cross_entropy_loss::<Tensor>(
            &targets.reshape([-1]),
            None,
            tch::Reduction::Mean,
            -1,
            0.0,
        )
    }

    /// Continues each prompt (token ids, unequal lengths) by up to `max_new_tokens` sampled tokens, as one
    /// left-padded batch through the KV cache. A row stops after it produces one of the `stop` tokens (kept as its
    /// last token). Returns the new tokens of each row.
    pub fn generate(
        &self,
        prompts: &[Vec<i64>],
        max_new_tokens: usize,
        sampling: Sampling,
        stop: &[i64],
        rng: &mut impl Rng,
    ) -> Result<Vec<Vec<i64>>, GptError> {
        check_sampling(sampling)?;
        let longest = prompts.iter().map(Vec::len).max().unwrap_or(0);
        if prompts.iter().any(Vec::is_empty) {
            return Err(GptError::EmptyPrompt);
        }
        if (longest + max_new_tokens) as i64 > self.config.block_size {
            return Err(GptError::TooLong { prompt: longest, new: max_new_tokens, block: self.config.block_size });
        }
        let device = self.wte.device();
        let (b, width) = (prompts.len() as i64, longest as i64);
        // Left padding: every row's last prompt token sits in the last column, so one column of logits serves all.
        let mut ids = vec![0i64; prompts.len() * longest];
        let mut mask = vec![0i64; prompts.len() * longest];
        for (r, p) in prompts.iter().enumerate() {
            let start = r * longest + longest - p.len();
            ids[start..start + p.len()].copy_from_slice(p);
            mask[start..start + p.len()].fill(1);
        }
        let ids = Tensor::from_slice(&ids).view([b, width]).to_device(device);
        let mask = Tensor::from_slice(&mask).view([b, width]).to_device(device);
        let mut out = vec![Vec::new(); prompts.len()];
        let mut done = vec![false; prompts.len()];
        tch::no_grad(|| {
            let mut cache = self.new_cache(b);
            let mut hidden = self.hidden(&ids, Some(&mask), Some(&mut cache), false);
            for _ in 0..max_new_tokens {
                let last = hidden.select(1, -1); // (B, C)
                let next = sample_rows(&self.logits(&last), sampling, rng);
                for (r, &token) in next.iter().enumerate() {
                    if !done[r] {
                        out[r].push(token);
                        done[r] = stop.contains(&token);
                    }
                }
                if done.iter().all(|&d| d) {
                    break;
                }
                let step = Tensor::from_slice(&next).view([b, 1]).to_device(device);
                hidden = self.hidden(&step, None, Some(&mut cache), false);
            }
        });
        Ok(out)
    }
}

fn check_sampling(sampling: Sampling) -> Result<(), GptError> {
    if !(sampling.temperature >= 0.0 && sampling.temperature.is_finite()) {
        return Err(GptError::Sampling(format!("temperature {} must be 0 or positive", sampling.temperature)));
    }
    if sampling.top_k.is_some_and(|k| k < 1) {
        return Err(GptError::Sampling("top_k must be at least 1".into()));
    }
    Ok(())
}

/// One token per row of `logits` (B, V): the most likely at temperature 0, else drawn from
/// softmax(logits / temperature) restricted to the `top_k` most likely tokens, with `rng` (so a seed fixes the
/// draws on any device).
pub fn sample_rows(logits: &Tensor, sampling: Sampling, rng: &mut impl Rng) -> Vec<i64> {
    let logits = logits.to_kind(Kind::Float);
    if sampling.temperature == 0.0 {
        return Vec::<i64>::try_from(logits.argmax(-1, false).to_device(tch::Device::Cpu)).expect("token ids");
    }
    let mut scaled = logits / sampling.temperature;
    if let Some(k) = sampling.top_k {
        let k = k.min(scaled.size()[1]);
        let (top, _) = scaled.topk(k, -1, true, true); // (B, k)
        let threshold = top.narrow(1, k - 1, 1); // (B, 1)
        scaled = scaled.masked_fill(&scaled.lt_tensor(&threshold), f64::NEG_INFINITY);
    }
    let probs = scaled.softmax(-1, Kind::Float); // (B, V)
    let vocab = probs.size()[1] as usize;
    let probs = crate::to_vec_f32(&probs);
    probs
        .chunks(vocab)
        .map(|row| {
            let mut u = rng.random::<f32>() * row.iter().sum::<f32>();
            for (token, &p) in row.iter().enumerate() {
                if u < p {
                    return token as i64;
                }
                u -= p;
            }
            // Rounding left u past the end: the last token with any probability.
            row.iter().rposition(|&p| p > 0.0).unwrap_or(0) as i64
        })
        .collect()
}
