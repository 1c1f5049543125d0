//! A character-level LSTM language model (Karpathy's char-rnn; Zaremba et al. 2014's regularization): an
//! embedding, a multi-layer LSTM with dropout between layers and on its input and output, and a linear decoder to
//! next-character logits, optionally tied to the embedding (Press & Wolf 2017; needs `embed == hidden`).
//!
//! The LSTM is LibTorch's fused kernel (`torch.nn.LSTM`'s), with its weights held here so that dropout follows the
//! train/eval mode of each call (tch's `nn::LSTM` fixes it when built) and so that they start as PyTorch starts
//! them: every weight and bias uniform in `[-1/sqrt(hidden), 1/sqrt(hidden)]`.

use crate::init;
use tch::nn::{self, Module};
use tch::{Kind, Tensor};

/// How a [`CharLstm`] is shaped.
#[derive(Debug, Clone, PartialEq)]
pub struct CharLstmConfig {
    pub vocab: i64,
    pub embed: i64,
    pub hidden: i64,
    pub layers: i64,
    pub dropout: f64,
    /// Decode with the embedding matrix (transposed) instead of a separate weight.
    pub tied: bool,
}

#[derive(Debug)]
pub struct CharLstm {
    pub config: CharLstmConfig,
    embedding: nn::Embedding,
    /// Per layer: w_ih (4H, in), w_hh (4H, H), b_ih (4H), b_hh (4H), in `torch.nn.LSTM`'s order.
    lstm_weights: Vec<Tensor>,
    decoder: nn::Linear,
}

/// The recurrent state carried between windows: h and c, each (layers, B, hidden).
pub type LstmState = (Tensor, Tensor);

impl CharLstm {
    pub fn new(vs: &nn::Path, config: CharLstmConfig) -> Self {
        assert!(!config.tied || config.embed == config.hidden, "tied weights need embed == hidden");
        let embedding = nn::embedding(vs / "embedding", config.vocab, config.embed, Default::default());
        let bound = 1.0 / (config.hidden as f64).sqrt();
        let init = nn::Init::Uniform { lo: -bound, up: bound };
        let h4 = 4 * config.hidden;
        let lstm = vs / "lstm";
        let mut lstm_weights = Vec::new();
        for layer in 0..config.layers {
            let inputs = if layer == 0 { config.embed } else { config.hidden };
            lstm_weights.push(lstm.var(&format!("weight_ih_l{layer}"), &[h4, inputs], init));
            lstm_weights.push(lstm.var(&format!("weight_hh_l{layer}"), &[h4, config.hidden], init));
            lstm_weights.push(lstm.var(&format!("bias_ih_l{layer}"), &[h4], init));
            lstm_weights.push(lstm.var(&format!("bias_hh_l{layer}"), &[h4], init));
        }
        let decoder = if config.tied {
            // The weight is the embedding's; only the bias is the decoder's own.
            let bs = Some(vs.var("decoder_bias", &[config.vocab], nn::Init::Const(0.0)));
            nn::Linear { ws: embedding.ws.shallow_clone(), bs }
        } else {
            init::linear(vs / "decoder", config.hidden, config.vocab, true)
        };
        CharLstm { config, embedding, lstm_weights, decoder }
    }

    /// The zero state for a batch of `batch` streams.
    pub fn zero_state(&self, batch: i64) -> LstmState {
        let zeros =
            Tensor::zeros([self.config.layers, batch, self.config.hidden], (Kind::Float, self.embedding.ws.device()));
        (zeros.shallow_clone(), zeros)
    }

    /// `tokens`: (B, T) i64 -> next-token logits (B, T, vocab) and the state after the last step.
    pub fn forward(&self, tokens: &Tensor, state: &LstmState, train: bool) -> (Tensor, LstmState) {
        let x = self.embedding.forward(tokens).dropout(self.config.dropout, train); // (B, T, E)

        // Not packed for cuDNN (models/src/rnn.rs): on an H200 the two-layer LSTM's packed block still did not
        // pass LibTorch's layout check (it warned on every call all the same) and cost 1.6 s more per epoch.
        let weights: Vec<&Tensor> = self.lstm_weights.iter().collect();
        let (out, h, c) =
            x.lstm(&[&state.0, &state.1], &weights, true, self.config.layers, self.config.dropout, train, false, true); // out: (B, T, H)
        let logits = out.dropout(self.config.dropout, train).apply(&self.decoder); // (B, T, V)
        (logits, (h, c))
    }
}
