//! rlx's supervised networks compute what the same networks compute in PyTorch: each is built, every trainable
//! parameter filled from its name by the rule `reference_supervised.py` uses, and a fixed batch's output shape and
//! mean cross-entropy (training mode, dropout 0) compared with the numbers that script printed (PyTorch 2.11.0).

mod common;

use common::{fill, grey_batch};
use rlx_models::{Attention, CharLstm, CharLstmConfig, LeNet5, MlpClassifier, ResNet, Seq2Seq, Seq2SeqConfig};
use tch::nn::{self, ModuleT};
use tch::{Device, Kind, Tensor};

/// The grey batch and labels 0..4.
fn images() -> (Tensor, Tensor) {
    (grey_batch(), Tensor::arange(4, (Kind::Int64, Device::Cpu)).remainder(10))
}

fn check(name: &str, logits: &Tensor, targets: &Tensor, shape: &[i64], want: f64) {
    assert_eq!(logits.size(), shape, "{name}");
    let classes = *shape.last().unwrap();
    // PAD (0) is ignored only by the seq2seq targets; the other targets never hold -100.
    let ignore = if name.starts_with("seq2seq") { 0 } else { -100 };
    let loss = logits
        .reshape([-1, classes])
        .cross_entropy_loss::<Tensor>(&targets.reshape([-1]), None, tch::Reduction::Mean, ignore, 0.0)
        .double_value(&[]);
    assert!((loss - want).abs() < 2e-6, "{name}: loss {loss:.7} vs PyTorch {want:.7}");
}

#[test]
fn classifiers_and_the_char_lstm_match_pytorch() {
    let (x, y) = images();
    let vs = nn::VarStore::new(Device::Cpu);
    let mlp = MlpClassifier::new(&vs.root(), 784, &[32, 16], 10, 0.0);
    fill(&vs);
    check("mlp", &mlp.forward_t(&x, true), &y, &[4, 10], 2.3450465);

    let vs = nn::VarStore::new(Device::Cpu);
    let lenet = LeNet5::new(&vs.root(), 10, 0.0);
    fill(&vs);
    check("lenet", &lenet.forward_t(&x, true), &y, &[4, 10], 2.3136911);

    let vs = nn::VarStore::new(Device::Cpu);
    let resnet = ResNet::new(&vs.root(), 1, 10, 2);
    fill(&vs);
    check("resnet", &resnet.forward_t(&x, true), &y, &[4, 10], 2.2842016);

    let vs = nn::VarStore::new(Device::Cpu);
    let config = CharLstmConfig { vocab: 20, embed: 8, hidden: 16, layers: 2, dropout: 0.0, tied: false };
    let lm = CharLstm::new(&vs.root(), config);
    fill(&vs);
    let b = Tensor::arange(2, (Kind::Int64, Device::Cpu)).unsqueeze(1);
    let t = Tensor::arange(12, (Kind::Int64, Device::Cpu)).unsqueeze(0);
    let tokens = (&b * 7 + &t * 3).remainder(20);
    let targets = (&b * 5 + &t * 2 + 1).remainder(20);
    let (logits, _) = lm.forward(&tokens, &lm.zero_state(2), true);
    check("char_lstm", &logits, &targets, &[2, 12, 20], 3.0009263);
}

/// Both attentions, teacher-forced, on a batch whose second source and target are padded. The script runs each
/// source alone over its real characters (what `pack_padded_sequence` does), so padding must enter neither
/// encoder direction, the attention nor the loss.
#[test]
fn the_encoder_decoder_with_either_attention_matches_pytorch() {
    let source = Tensor::from_slice(&[3i64, 4, 5, 6, 7, 8, 3, 9, 0, 0]).reshape([2, 5]);
    let target = Tensor::from_slice(&[4i64, 5, 6, 2, 7, 2, 0, 0]).reshape([2, 4]);
    for (attention, want) in [(Attention::Bahdanau, 2.0662100), (Attention::Luong, 2.0740948)] {
        let vs = nn::VarStore::new(Device::Cpu);
        let config = Seq2SeqConfig { source_vocab: 10, target_vocab: 8, embed: 6, hidden: 12, attention, dropout: 0.0 };
        let model = Seq2Seq::new(&vs.root(), config);
        fill(&vs);
        let logits = model.forward_teacher(&source, &target, &[true; 4], false);
        check(&format!("seq2seq {attention:?}"), &logits, &target, &[2, 4, 8], want);
    }
}

/// A source decodes the same alone as inside a padded batch.
#[test]
fn padding_changes_nothing_for_the_encoder_decoder() {
    let vs = nn::VarStore::new(Device::Cpu);
    let config = Seq2SeqConfig {
        source_vocab: 10,
        target_vocab: 8,
        embed: 6,
        hidden: 12,
        attention: Attention::Bahdanau,
        dropout: 0.0,
    };
    let model = Seq2Seq::new(&vs.root(), config);
    fill(&vs);
    let alone = Tensor::from_slice(&[8i64, 3, 9]).reshape([1, 3]);
    let batch = Tensor::from_slice(&[3i64, 4, 5, 6, 7, 8, 3, 9, 0, 0]).reshape([2, 5]);
    let target = Tensor::from_slice(&[7i64, 2]).reshape([1, 2]);
    let one = model.forward_teacher(&alone, &target, &[true; 2], false);
    let both = model.forward_teacher(&batch, &Tensor::cat(&[&target, &target], 0), &[true; 2], false);
    assert!(one.allclose(&both.narrow(0, 1, 1), 1e-5, 1e-6, false));
}
