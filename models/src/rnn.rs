//! Recurrent layers' weights for LibTorch's fused RNN kernels (`Tensor::lstm`, `Tensor::gru`), packed for cuDNN on
//! a GPU.
//!
//! rlx's optimizer keeps every parameter as a view of its one flat buffer (models/src/optimizer.rs), so an RNN's
//! weights are not the single block, laid out as cuDNN wants it, that `torch.nn.LSTM.flatten_parameters` makes.
//! cuDNN then copies them into such a block on every call, and LibTorch warns on every call ("RNN module weights
//! are not part of single contiguous chunk of memory"): thousands of lines per epoch. [`packed`] makes that block
//! once per forward pass instead, through autograd, so the gradients reach the parameters as before; a decoder that
//! steps one token at a time packs once per batch, not once per step. On the CPU the weights are used as they are.
//!
//! Measured on an H200 (results/supervised_speed_cuda.md): the seq2seq GRUs (one layer each) pass LibTorch's check
//! packed this way (no warning left, about 11,000 lines fewer per run; the epoch times stayed within 10%). The char
//! LSTM's two layers did not (every call still warned, and the extra copy cost time), so [`crate::CharLstm`] does
//! not pack: cuDNN's layout for several layers evidently has more in it than the weights back to back.

use crate::init;
use tch::{nn, Kind, Tensor};

/// `weights` (per layer and direction: w_ih, w_hh, b_ih, b_hh, `torch.nn.LSTM`'s order) for one forward pass: on a
/// CUDA device [`pack`]ed (cuDNN's float32 layout, which LibTorch then uses without a copy); elsewhere the tensors
/// themselves.
pub fn packed(weights: &[Tensor]) -> Vec<Tensor> {
    if weights.first().is_some_and(|w| w.device().is_cuda()) {
        pack(weights)
    } else {
        weights.iter().map(Tensor::shallow_clone).collect()
    }
}

/// Views of one new buffer holding `weights` back to back, made through autograd (a `cat`), so gradients of the
/// views reach the tensors.
fn pack(weights: &[Tensor]) -> Vec<Tensor> {
    let block = Tensor::cat(&weights.iter().map(|w| w.reshape([-1])).collect::<Vec<_>>(), 0); // (sum of sizes,)
    let mut offset = 0;
    weights
        .iter()
        .map(|w| {
            let numel = w.numel() as i64;
            let view = block.narrow(0, offset, numel).view(w.size().as_slice());
            offset += numel;
            view
        })
        .collect()
}

/// `torch.nn.GRU(inputs, hidden, batch_first=True)`: one layer, one direction, its variables named and initialized
/// as PyTorch's (`weight_ih_l0`, `weight_hh_l0`, `bias_ih_l0`, `bias_hh_l0`, each U(+-1/sqrt(hidden))), created in
/// tch's `nn::gru` order, so a seed gives the same start as the tch layer it replaces.
#[derive(Debug)]
pub struct Gru {
    /// w_ih (3H, inputs), w_hh (3H, H), b_ih (3H), b_hh (3H).
    weights: Vec<Tensor>,
    hidden: i64,
}

impl Gru {
    pub fn new(path: nn::Path, inputs: i64, hidden: i64) -> Self {
        let init = init::rnn_uniform(hidden);
        let weights = vec![
            path.var("weight_ih_l0", &[3 * hidden, inputs], init),
            path.var("weight_hh_l0", &[3 * hidden, hidden], init),
            path.var("bias_ih_l0", &[3 * hidden], init),
            path.var("bias_hh_l0", &[3 * hidden], init),
        ];
        Gru { weights, hidden }
    }

    /// The weights for one forward pass (see [`packed`]); hand them to every [`Gru::run`] of that pass.
    pub fn weights(&self) -> Vec<Tensor> {
        packed(&self.weights)
    }

    /// `input` (B, T, inputs) from state `h0` (1, B, H), or zeros: the outputs (B, T, H) and the last state
    /// (1, B, H). `weights` from [`Gru::weights`].
    pub fn run(&self, weights: &[Tensor], input: &Tensor, h0: Option<&Tensor>) -> (Tensor, Tensor) {
        let zeros;
        let h0 = match h0 {
            Some(h0) => h0,
            None => {
                zeros = Tensor::zeros([1, input.size()[0], self.hidden], (Kind::Float, input.device()));
                &zeros
            }
        };
        input.gru(h0, weights, true, 1, 0.0, true, false, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    #[test]
    fn a_gru_has_tch_s_variables_and_computes_what_tch_s_gru_does() {
        let ours = nn::VarStore::new(Device::Cpu);
        let gru = Gru::new(ours.root() / "g", 5, 6);
        let mut theirs = nn::VarStore::new(Device::Cpu);
        let reference = nn::gru(theirs.root() / "g", 5, 6, nn::RNNConfig { batch_first: true, ..Default::default() });
        // The same names and shapes (so checkpoints and PyTorch state dicts carry over), then the same values.
        let (a, b) = (ours.variables(), theirs.variables());
        assert_eq!(a.len(), b.len());
        for (name, t) in &b {
            assert_eq!(a[name].size(), t.size(), "{name}");
        }
        theirs.copy(&ours).unwrap();
        let x = Tensor::randn([3, 4, 5], (Kind::Float, Device::Cpu));
        let (out, last) = gru.run(&gru.weights(), &x, None);
        let (want, want_last) = nn::RNN::seq(&reference, &x);
        assert_eq!(out.size(), [3, 4, 6]);
        assert!(out.allclose(&want, 1e-6, 1e-6, false));
        assert!(last.allclose(&want_last.value(), 1e-6, 1e-6, false));
        let h0 = Tensor::randn([1, 3, 6], (Kind::Float, Device::Cpu));
        let (_, last) = gru.run(&gru.weights(), &x, Some(&h0));
        let (_, want_last) = nn::RNN::seq_init(&reference, &x, &nn::GRUState(h0.shallow_clone()));
        assert!(last.allclose(&want_last.value(), 1e-6, 1e-6, false));
    }

    #[test]
    fn packing_keeps_values_shapes_and_gradients() {
        let weights: Vec<Tensor> =
            [[4, 3].as_slice(), &[4, 2], &[4]].iter().map(|s| Tensor::randn(*s, (Kind::Float, Device::Cpu))).collect();
        let leaves: Vec<Tensor> = weights.iter().map(|w| w.set_requires_grad(true)).collect();
        let views = pack(&leaves);
        for (view, leaf) in views.iter().zip(&leaves) {
            assert!(view.equal(leaf));
        }
        // One block: each view starts where the one before it ends.
        let start = |t: &Tensor| t.data_ptr() as usize;
        assert_eq!(start(&views[1]) - start(&views[0]), 12 * 4);
        assert_eq!(start(&views[2]) - start(&views[1]), 8 * 4);
        (views[0].sum(Kind::Float) * 2.0 + views[1].sum(Kind::Float) * 3.0 + views[2].sum(Kind::Float)).backward();
        assert!(leaves[0].grad().equal(&Tensor::full([4, 3], 2.0, (Kind::Float, Device::Cpu))));
        assert!(leaves[1].grad().equal(&Tensor::full([4, 2], 3.0, (Kind::Float, Device::Cpu))));
        assert!(leaves[2].grad().equal(&Tensor::ones([4], (Kind::Float, Device::Cpu))));
        // On the CPU `packed` hands the tensors themselves back.
        assert!(packed(&leaves).iter().zip(&leaves).all(|(p, l)| p.data_ptr() == l.data_ptr()));
    }
}
