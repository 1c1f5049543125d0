//! An RNN encoder-decoder with attention for character sequences: a bidirectional GRU encoder (two GRUs, the
//! backward one reading each source's real characters in reverse, so padding never enters either direction, as
//! `pack_padded_sequence` would have it), and a GRU decoder
//! that attends over the encoder's states at every step, with Bahdanau et al. 2015's additive attention (scored
//! with the previous decoder state, before the GRU step) or Luong et al. 2015's multiplicative "general" attention
//! (scored with the new state, after it, then an attentional layer `tanh(W [context; h])`). Padding positions of
//! the source are masked out of the attention. Decoding: teacher-forced for training, greedy or beam search for
//! inference, each returning the attention weights of every output step.

use crate::init;
use crate::rnn::Gru;
use crate::seq_data::{EOS, PAD, SOS};
use tch::nn::{self, Module};
use tch::{Kind, Tensor};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Attention {
    Bahdanau,
    Luong,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Seq2SeqConfig {
    /// Source and target vocabulary sizes (specials included).
    pub source_vocab: i64,
    pub target_vocab: i64,
    pub embed: i64,
    /// Decoder state width H; each encoder direction has H too, so encoder states are 2H wide.
    pub hidden: i64,
    pub attention: Attention,
    pub dropout: f64,
}

#[derive(Debug)]
pub struct Seq2Seq {
    pub config: Seq2SeqConfig,
    source_embedding: nn::Embedding,
    target_embedding: nn::Embedding,
    /// The encoder's two directions.
    encoder_forward: Gru,
    encoder_backward: Gru,
    /// Encoder final states (2H) -> the decoder's initial state (H).
    bridge: nn::Linear,
    decoder: Gru,
    /// Bahdanau: W_q (H -> H), W_k (2H -> H), v (H -> 1). Luong: W (2H -> H) as `keys`, `query`/`v` unused.
    query: nn::Linear,
    keys: nn::Linear,
    v: nn::Linear,
    /// Luong's attentional layer [context; h] (3H) -> H.
    combine: nn::Linear,
    /// Output layer: Bahdanau [h; context; embedding] -> V; Luong attentional h -> V.
    out: nn::Linear,
}

/// What the encoder gives the decoder: its states, the padding mask and the decoder's initial state.
pub struct Encoded {
    /// (B, S, 2H)
    pub states: Tensor,
    /// (B, S) true at real source characters.
    pub mask: Tensor,
    /// The states projected once per source: Bahdanau's W_k s or Luong's W s, (B, S, H).
    keys: Tensor,
    /// (1, B, H)
    pub initial: Tensor,
    /// The decoder GRU's weights for this batch's steps, packed once (models/src/rnn.rs).
    decoder_weights: Vec<Tensor>,
}

impl Seq2Seq {
    pub fn new(vs: &nn::Path, config: Seq2SeqConfig) -> Self {
        let (e, h) = (config.embed, config.hidden);
        let gru = |path: nn::Path, inputs: i64| Gru::new(path, inputs, h);
        let decoder_inputs = match config.attention {
            Attention::Bahdanau => e + 2 * h,
            Attention::Luong => e + h, // input feeding: the previous attentional state
        };
        let out_inputs = match config.attention {
            Attention::Bahdanau => h + 2 * h + e,
            Attention::Luong => h,
        };
        Seq2Seq {
            source_embedding: nn::embedding(vs / "source_embedding", config.source_vocab, e, Default::default()),
            target_embedding: nn::embedding(vs / "target_embedding", config.target_vocab, e, Default::default()),
            encoder_forward: gru(vs / "encoder_forward", e),
            encoder_backward: gru(vs / "encoder_backward", e),
            bridge: init::linear(vs / "bridge", 2 * h, h, true),
            decoder: gru(vs / "decoder", decoder_inputs),
            query: init::linear(vs / "attention_query", h, h, false),
            keys: init::linear(vs / "attention_keys", 2 * h, h, false),
            v: init::linear(vs / "attention_v", h, 1, false),
            combine: init::linear(vs / "combine", 3 * h, h, false),
            out: init::linear(vs / "out", out_inputs, config.target_vocab, true),
            config,
        }
    }

    /// `source`: (B, S) ids, PAD-padded at the end of each row.
    pub fn encode(&self, source: &Tensor, train: bool) -> Encoded {
        let mask = source.ne(PAD); // (B, S)
        let (batch, width) = (source.size()[0], source.size()[1]);
        let lengths = mask.sum_dim_intlist(1, true, Kind::Int64).clamp_min(1); // (B, 1)

        // Position t of row b read backwards: L_b - 1 - t inside the row, t itself in the padding (a permutation
        // that is its own inverse).
        let t = Tensor::arange(width, (Kind::Int64, source.device())).unsqueeze(0); // (1, S)
        let reversed = (&lengths - 1 - &t).where_self(&t.lt_tensor(&lengths), &t.expand([batch, width], false)); // (B, S)
        let x = self.source_embedding.forward(source).dropout(self.config.dropout, train); // (B, S, E)
        let e = self.config.embed;
        let x_reversed = x.gather(1, &reversed.unsqueeze(-1).expand([batch, width, e], false), false);
        let (forward_gru, backward_gru) = (&self.encoder_forward, &self.encoder_backward);
        let (forward, _) = forward_gru.run(&forward_gru.weights(), &x, None); // (B, S, H)
        let (backward_reversed, _) = backward_gru.run(&backward_gru.weights(), &x_reversed, None); // (B, S, H)
        let h = self.config.hidden;
        let at = |index: &Tensor| index.unsqueeze(-1).expand([batch, -1, h], false);
        let backward = backward_reversed.gather(1, &at(&reversed), false);
        let states = Tensor::cat(&[&forward, &backward], -1) * mask.unsqueeze(-1).to_kind(Kind::Float); // (B, S, 2H)

        // Each direction's state after the row's last real character.
        let last = &lengths - 1; // (B, 1)
        let final_forward = forward.gather(1, &at(&last), false).squeeze_dim(1); // (B, H)
        let final_backward = backward_reversed.gather(1, &at(&last), false).squeeze_dim(1); // (B, H)
        let initial = Tensor::cat(&[final_forward, final_backward], -1).apply(&self.bridge).tanh().unsqueeze(0); // (1, B, H)
        let keys = states.apply(&self.keys); // (B, S, H)
        Encoded { states, mask, keys, initial, decoder_weights: self.decoder.weights() }
    }

    /// Attention weights (B, S) and context (B, 2H) for decoder state `h` (B, H).
    fn attend(&self, enc: &Encoded, h: &Tensor) -> (Tensor, Tensor) {
        let scores = match self.config.attention {
            // v^T tanh(W_q h + W_k s)
            Attention::Bahdanau => {
                (enc.keys.shallow_clone() + h.apply(&self.query).unsqueeze(1)).tanh().apply(&self.v).squeeze_dim(-1)
            }
            // h^T W s
            Attention::Luong => enc.keys.matmul(&h.unsqueeze(-1)).squeeze_dim(-1),
        }; // (B, S)
        let weights = scores.masked_fill(&enc.mask.logical_not(), f64::NEG_INFINITY).softmax(-1, Kind::Float);
        let context = weights.unsqueeze(1).matmul(&enc.states).squeeze_dim(1); // (B, 2H)
        (weights, context)
    }

    /// One decoder step from the previous token ids (B,) and state: logits (B, V), the next state, attention (B, S).
    /// `feed` is Luong's previous attentional state (B, H) (zeros at the start; unused by Bahdanau).
    pub fn step(
        &self,
        enc: &Encoded,
        previous: &Tensor,
        state: &Tensor,
        feed: &Tensor,
        train: bool,
    ) -> (Tensor, Tensor, Tensor, Tensor) {
        let y = self.target_embedding.forward(previous).dropout(self.config.dropout, train); // (B, E)
        let h_prev = state.get(0); // (B, H)
        match self.config.attention {
            Attention::Bahdanau => {
                let (weights, context) = self.attend(enc, &h_prev);
                let input = Tensor::cat(&[&y, &context], -1).unsqueeze(1); // (B, 1, E + 2H)
                let (out, next) = self.decoder.run(&enc.decoder_weights, &input, Some(state));
                let h = out.squeeze_dim(1); // (B, H)
                let features = Tensor::cat(&[&h, &context, &y], -1).dropout(self.config.dropout, train);
                (features.apply(&self.out), next, weights, feed.shallow_clone())
            }
            Attention::Luong => {
                let input = Tensor::cat(&[&y, feed], -1).unsqueeze(1); // (B, 1, E + H)
                let (out, next) = self.decoder.run(&enc.decoder_weights, &input, Some(state));
                let h = out.squeeze_dim(1); // (B, H)
                let (weights, context) = self.attend(enc, &h);
                let attentional = Tensor::cat(&[&context, &h], -1).apply(&self.combine).tanh(); // (B, H)
                let logits = attentional.dropout(self.config.dropout, train).apply(&self.out);
                (logits, next, weights, attentional)
            }
        }
    }

    fn zero_feed(&self, batch: i64, enc: &Encoded) -> Tensor {
        Tensor::zeros([batch, self.config.hidden], (Kind::Float, enc.states.device()))
    }

    /// Logits (B, T, V) for `target` (B, T) ids ending in EOS (PAD after). Step `t` reads SOS at `t = 0`, then the
    /// true `target[t - 1]` where `forcing[t]` (teacher forcing), else the model's own previous argmax.
    pub fn forward_teacher(&self, source: &Tensor, target: &Tensor, forcing: &[bool], train: bool) -> Tensor {
        let enc = self.encode(source, train);
        let (batch, steps) = (target.size()[0], target.size()[1]);
        let mut previous = Tensor::full([batch], SOS, (Kind::Int64, target.device()));
        let (mut state, mut feed) = (enc.initial.shallow_clone(), self.zero_feed(batch, &enc));
        let mut logits = Vec::with_capacity(steps as usize);
        for t in 0..steps {
            let (l, next, _, f) = self.step(&enc, &previous, &state, &feed, train);
            let forced = forcing.get(t as usize + 1).copied().unwrap_or(true);
            previous = if forced { target.select(1, t) } else { l.detach().argmax(-1, false) };
            logits.push(l);
            (state, feed) = (next, f);
        }
        Tensor::stack(&logits, 1)
    }

    /// Greedy decoding of a batch: (B, <= max_len) ids (EOS included where reached) and attention (B, steps, S).
    pub fn greedy(&self, source: &Tensor, max_len: i64) -> (Tensor, Tensor) {
        tch::no_grad(|| {
            let enc = self.encode(source, false);
            let batch = source.size()[0];
            let mut previous = Tensor::full([batch], SOS, (Kind::Int64, source.device()));
            let (mut state, mut feed) = (enc.initial.shallow_clone(), self.zero_feed(batch, &enc));
            let (mut ids, mut attention) = (Vec::new(), Vec::new());
            let mut done = Tensor::zeros([batch], (Kind::Bool, source.device()));
            for _ in 0..max_len {
                let (logits, next, weights, f) = self.step(&enc, &previous, &state, &feed, false);
                let token = logits.argmax(-1, false).masked_fill(&done, PAD); // (B,)
                done = done.logical_or(&token.eq(EOS));
                ids.push(token.shallow_clone());
                attention.push(weights);
                (previous, state, feed) = (token, next, f);
                if bool::try_from(done.all()).unwrap_or(false) {
                    break;
                }
            }
            (Tensor::stack(&ids, 1), Tensor::stack(&attention, 1))
        })
    }

    /// Beam search for one source (1, S) with `width` beams: the highest total log-probability sequence that ends
    /// in EOS (or the best at `max_len`), without EOS, and its attention (steps, S).
    pub fn beam(&self, source: &Tensor, width: usize, max_len: usize) -> (Vec<i64>, Tensor) {
        tch::no_grad(|| {
            let enc = self.encode(source, false);
            // (tokens, log-prob, state, feed, attention rows)
            type Hypothesis = (Vec<i64>, f64, Tensor, Tensor, Vec<Tensor>);
            let mut beams: Vec<Hypothesis> =
                vec![(vec![], 0.0, enc.initial.shallow_clone(), self.zero_feed(1, &enc), vec![])];
            let mut finished: Vec<(Vec<i64>, f64, Vec<Tensor>)> = Vec::new();
            for _ in 0..max_len {
                let mut candidates: Vec<(f64, usize, i64, Tensor, Tensor, Tensor)> = Vec::new();
                for (b, (tokens, score, state, feed, _)) in beams.iter().enumerate() {
                    let previous = Tensor::from_slice(&[*tokens.last().unwrap_or(&SOS)]).to_device(source.device());
                    let (logits, next, weights, f) = self.step(&enc, &previous, state, feed, false);
                    let log_probs = logits.log_softmax(-1, Kind::Float).squeeze_dim(0); // (V,)
                    let (top, index) = log_probs.topk(width as i64, -1, true, true);
                    let top: Vec<f32> = Vec::try_from(&top).unwrap_or_default();
                    let index: Vec<i64> = Vec::try_from(&index).unwrap_or_default();
                    for (lp, id) in top.into_iter().zip(index) {
                        candidates.push((
                            score + lp as f64,
                            b,
                            id,
                            next.shallow_clone(),
                            f.shallow_clone(),
                            weights.squeeze_dim(0),
                        ));
                    }
                }
                candidates.sort_by(|a, b| b.0.total_cmp(&a.0));
                let mut next_beams = Vec::new();
                for (score, b, id, state, feed, weights) in candidates.into_iter().take(width) {
                    let (tokens, _, _, _, rows) = &beams[b];
                    let mut rows: Vec<Tensor> = rows.iter().map(Tensor::shallow_clone).collect();
                    rows.push(weights);
                    if id == EOS {
                        finished.push((tokens.clone(), score, rows));
                    } else {
                        let mut tokens = tokens.clone();
                        tokens.push(id);
                        next_beams.push((tokens, score, state, feed, rows));
                    }
                }
                // Done when no open beam can beat the best finished one (log-probs only fall).
                let best_finished = finished.iter().map(|f| f.1).fold(f64::NEG_INFINITY, f64::max);
                next_beams.retain(|h| h.1 > best_finished);
                if next_beams.is_empty() {
                    break;
                }
                beams = next_beams;
            }
            let best = finished
                .into_iter()
                .max_by(|a, b| a.1.total_cmp(&b.1))
                .or_else(|| beams.into_iter().next().map(|(t, s, _, _, r)| (t, s, r)));
            match best {
                Some((tokens, _, rows)) if !rows.is_empty() => (tokens, Tensor::stack(&rows, 0)),
                _ => (vec![], Tensor::zeros([0, source.size()[1]], (Kind::Float, source.device()))),
            }
        })
    }
}
