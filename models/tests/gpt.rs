//! rlx's GPT: the same loss and gradient as a plain PyTorch GPT of nanoGPT's shape (`reference_gpt.py`, PyTorch
//! 2.11.0), nanoGPT's initialization, and the decoding machinery (padding masks, the KV cache, sampling) giving
//! what the plain causal forward pass gives.

use rand::SeedableRng;
use rlx_models::{Gpt, GptConfig, GptError, Sampling};
use tch::nn;
use tch::{Device, Kind, Tensor};

fn config() -> GptConfig {
    GptConfig { vocab_size: 11, block_size: 16, n_layer: 2, n_head: 2, n_embd: 8, dropout: 0.0, bias: true }
}

/// `value[k] = 0.3 sin(0.37 k + 0.013 * sum of the name's bytes)`, as the script fills them.
fn filled(config: GptConfig) -> (nn::VarStore, Gpt) {
    let vs = nn::VarStore::new(Device::Cpu);
    let gpt = Gpt::new(&vs.root(), config);
    tch::no_grad(|| {
        for (name, mut p) in vs.variables() {
            let salt = 0.013 * name.bytes().map(|b| b as f64).sum::<f64>();
            let k = Tensor::arange(p.numel() as i64, (Kind::Double, Device::Cpu));
            p.copy_(&((k * 0.37 + salt).sin() * 0.3).reshape(p.size()).to_kind(Kind::Float));
        }
    });
    (vs, gpt)
}

fn tokens() -> (Tensor, Tensor) {
    let b = Tensor::arange(2, (Kind::Int64, Device::Cpu)).unsqueeze(1);
    let t = Tensor::arange(10, (Kind::Int64, Device::Cpu)).unsqueeze(0);
    let tokens = (&b * 7 + &t * 3).remainder(11);
    let targets = (&b * 5 + &t * 2 + 1).remainder(11);
    let _ = targets.narrow(1, 0, 3).get(0).fill_(-1);
    (tokens, targets)
}

#[test]
fn loss_and_gradient_match_pytorch() {
    let (vs, gpt) = filled(config());
    let (tokens, targets) = tokens();
    let loss = gpt.loss(&tokens, &targets, true);
    loss.backward();
    let norm: f64 =
        vs.trainable_variables().iter().map(|p| p.grad().square().sum(Kind::Double).double_value(&[])).sum();
    let (loss, norm) = (loss.double_value(&[]), norm.sqrt());
    assert!((loss - 2.4714751).abs() < 2e-6, "loss {loss:.7} vs PyTorch 2.4714751");
    assert!((norm - 0.2682717).abs() < 2e-6, "gradient norm {norm:.7} vs PyTorch 0.2682717");
    let logits = gpt.forward(&tokens, false);
    let want = Tensor::from_slice(&[0.0030205697f32, -0.09927178, 0.19225839]);
    assert!(logits.get(1).get(9).narrow(0, 0, 3).allclose(&want, 1e-5, 1e-6, false));
}

#[test]
fn initialization_is_nanogpts() {
    let config =
        GptConfig { vocab_size: 512, block_size: 64, n_layer: 4, n_head: 4, n_embd: 128, dropout: 0.0, bias: true };
    let vs = nn::VarStore::new(Device::Cpu);
    tch::manual_seed(0);
    let gpt = Gpt::new(&vs.root(), config);
    let proj_std = 0.02 / 8f64.sqrt();
    for (name, p) in vs.variables() {
        let (mean, std) = (p.mean(Kind::Double).double_value(&[]), p.std(true).double_value(&[]));
        let want_std = if name.ends_with("c_proj.weight") {
            proj_std
        } else if name.ends_with(".bias") || name.contains("ln_") {
            0.0
        } else {
            0.02
        };
        if want_std == 0.0 {
            let want_mean = if name.contains("ln_") && name.ends_with("weight") { 1.0 } else { 0.0 };
            assert!(std == 0.0 && mean == want_mean, "{name}: mean {mean}, std {std}");
        } else {
            assert!(
                (std / want_std - 1.0).abs() < 0.05 && mean.abs() < 3.0 * want_std / (p.numel() as f64).sqrt() + 1e-4,
                "{name}: mean {mean}, std {std} (want {want_std})"
            );
        }
    }
    // nanoGPT's count leaves out the position embedding and counts the tied output weight once.
    let blocks = 4 * (12 * 128 * 128 + 13 * 128);
    assert_eq!(gpt.num_parameters(&vs), 512 * 128 + blocks + 2 * 128);
}

/// The KV cache: decoding a sequence one token at a time gives the logits of the full causal pass.
#[test]
fn incremental_decoding_equals_the_full_pass() {
    let (_vs, gpt) = filled(config());
    let (tokens, _) = tokens();
    let full = tch::no_grad(|| gpt.forward(&tokens, false)); // (2, 10, V)
    let mut cache = gpt.new_cache(2);
    let mut steps = vec![];
    tch::no_grad(|| {
        // A prompt of 4 tokens, then one token at a time.
        steps.push(gpt.logits(&gpt.hidden(&tokens.narrow(1, 0, 4), None, Some(&mut cache), false)));
        for t in 4..10 {
            steps.push(gpt.logits(&gpt.hidden(&tokens.narrow(1, t, 1), None, Some(&mut cache), false)));
        }
    });
    assert_eq!(cache.len(), 10);
    let incremental = Tensor::cat(&steps, 1);
    assert!(incremental.allclose(&full, 1e-5, 1e-6, false), "max diff {}", (incremental - full).abs().max());
}

/// A row gives the same logits alone as inside a batch padded on the left or on the right.
#[test]
fn padding_changes_nothing() {
    let (_vs, gpt) = filled(config());
    let row = Tensor::from_slice(&[3i64, 1, 4, 1, 5, 9]).view([1, 6]);
    let alone = tch::no_grad(|| gpt.forward(&row, false)).squeeze_dim(0); // (6, V)
    let other = Tensor::from_slice(&[2i64, 7, 1, 8, 2, 8, 1, 8, 2]).view([1, 9]);
    for left in [true, false] {
        let pad = Tensor::zeros([1, 3], (Kind::Int64, Device::Cpu));
        let padded = if left { Tensor::cat(&[&pad, &row], 1) } else { Tensor::cat(&[&row, &pad], 1) };
        let mask = padded.ones_like();
        let _ = mask.narrow(1, if left { 0 } else { 6 }, 3).fill_(0);
        let batch = Tensor::cat(&[&other, &padded], 0);
        let mask = Tensor::cat(&[&other.ones_like(), &mask], 0);
        let logits = tch::no_grad(|| gpt.logits(&gpt.hidden(&batch, Some(&mask), None, false))); // (2, 9, V)
        let real = logits.get(1).narrow(0, if left { 3 } else { 0 }, 6);
        assert!(real.allclose(&alone, 1e-5, 1e-6, false), "left {left}: max diff {}", (real - &alone).abs().max());
        assert!(logits.isfinite().all().int64_value(&[]) == 1, "padded positions stay finite");
        let first = tch::no_grad(|| gpt.forward(&other, false)).squeeze_dim(0);
        assert!(logits.get(0).allclose(&first, 1e-5, 1e-6, false));
    }
}

#[test]
fn generation_is_batched_right_and_seeded() {
    let (_vs, gpt) = filled(config());
    let prompts = vec![vec![3i64, 1, 4, 1, 5], vec![9i64, 2]];
    let greedy = Sampling { temperature: 0.0, top_k: None };
    let mut rng = rand_pcg::Pcg64::seed_from_u64(0);
    let batch = gpt.generate(&prompts, 6, greedy, &[], &mut rng).unwrap();
    for (prompt, out) in prompts.iter().zip(&batch) {
        // Greedy decoding of a row alone, by full forward passes, is what the padded cached batch produced.
        let mut seq = prompt.clone();
        for _ in 0..6 {
            let logits = tch::no_grad(|| gpt.forward(&Tensor::from_slice(&seq).view([1, -1]), false));
            seq.push(logits.get(0).get(-1).argmax(0, false).int64_value(&[]));
        }
        assert_eq!(&seq[prompt.len()..], out.as_slice());
    }
    let warm = Sampling { temperature: 1.0, top_k: Some(3) };
    let draw = |seed| gpt.generate(&prompts, 8, warm, &[], &mut rand_pcg::Pcg64::seed_from_u64(seed)).unwrap();
    assert_eq!(draw(7), draw(7));
    assert_ne!(draw(7), draw(8));
    // A row stops at the stop token, which it keeps.
    let stop = batch[0][2];
    let stopped = gpt.generate(&prompts[..1], 6, greedy, &[stop], &mut rng).unwrap();
    assert_eq!(stopped[0], batch[0][..=batch[0].iter().position(|&t| t == stop).unwrap()]);
    assert_eq!(
        gpt.generate(&prompts, 12, greedy, &[], &mut rng).unwrap_err(),
        GptError::TooLong { prompt: 5, new: 12, block: 16 }
    );
    assert_eq!(gpt.generate(&[vec![]], 2, greedy, &[], &mut rng).unwrap_err(), GptError::EmptyPrompt);
    assert!(gpt.generate(&prompts, 2, Sampling { temperature: -1.0, top_k: None }, &[], &mut rng).is_err());
}
