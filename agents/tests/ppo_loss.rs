//! PPO's loss terms against PyTorch: the numbers below were printed by `tests/reference/ppo_loss.py`
//! (SB3 2.x's `PPO.train` formulas, PyTorch 2.11.0) for the same minibatch.

use rlx_agents::ppo::{ppo_loss, LossInputs};
use tch::Tensor;

fn t(v: &[f32]) -> Tensor {
    Tensor::from_slice(v)
}

#[test]
fn loss_terms_match_pytorch() {
    let log_prob = t(&[-0.5, -1.2, -0.3, -2.0, -0.9, -0.1]);
    let old_log_prob = t(&[-0.6, -1.0, -0.3, -1.5, -1.3, -0.4]);
    let advantages = t(&[1.0, -0.5, 2.0, 0.3, -1.5, 0.8]);
    let values = t(&[0.5, 1.5, -0.2, 2.2, 0.0, 1.1]);
    let old_values = t(&[0.4, 1.0, 0.1, 2.0, 0.3, 1.0]);
    let returns = t(&[1.0, 1.2, 0.5, 2.5, -0.5, 1.0]);
    let entropy = t(&[0.6, 0.7, 0.5, 0.9, 0.8, 0.65]);
    let inputs = LossInputs {
        log_prob: &log_prob,
        old_log_prob: &old_log_prob,
        advantages: &advantages,
        values: &values,
        old_values: &old_values,
        returns: &returns,
        entropy: &entropy,
    };
    // (normalize_advantage, vf clip) -> (policy_loss, value_loss, entropy_loss, loss)
    let cases = [
        (true, None, [0.0799665, 0.1966666, -0.6916667, 0.1713832]),
        (true, Some(0.3), [0.0799665, 0.1833333, -0.6916667, 0.1647165]),
        (false, None, [-0.2666713, 0.1966666, -0.6916667, -0.1752546]),
        (false, Some(0.3), [-0.2666713, 0.1833333, -0.6916667, -0.1819213]),
    ];
    for (normalize, vf_clip, want) in cases {
        let l = ppo_loss(&inputs, 0.2, vf_clip, 0.01, 0.5, normalize);
        let got = [l.policy_loss, l.value_loss, l.entropy_loss, l.loss.double_value(&[])];
        for (name, (g, w)) in ["policy_loss", "value_loss", "entropy_loss", "loss"].iter().zip(got.iter().zip(want)) {
            assert!((g - w).abs() < 1e-6, "normalize={normalize} vf_clip={vf_clip:?} {name}: {g} vs PyTorch {w}");
        }
        assert!((l.approx_kl - 0.0453526).abs() < 1e-6, "{}", l.approx_kl);
        assert!((l.clip_fraction - 0.5).abs() < 1e-9);
    }
}
