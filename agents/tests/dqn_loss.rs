//! DQN's TD loss against PyTorch: the numbers below are printed by `agents/tests/reference/dqn_loss.py` (PyTorch
//! 2.11.0, SB3's target and smooth L1 loss), for plain and Double DQN, Huber and MSE, with importance weights.

use rlx_agents::dqn::{td_loss, TdInputs, TdLoss};
use tch::{Kind, Tensor};

fn t(v: &[f32]) -> Tensor {
    Tensor::from_slice(v)
}

fn close(a: &[f32], b: &[f64]) -> bool {
    a.iter().zip(b).all(|(x, y)| (*x as f64 - y).abs() < 1e-5)
}

#[test]
fn td_loss_and_gradients_match_pytorch() {
    let q = t(&[1.0, 2.0, 0.5, 0.0, -1.0, 3.0, 2.5, 2.0, -0.5, 0.1, 0.2, 0.3]).reshape([4, 3]).set_requires_grad(true);
    let actions = Tensor::from_slice(&[1i64, 2, 0, 1]);
    let rewards = t(&[1.0, 0.0, -1.0, 0.5]);
    let discounts = t(&[0.99, 0.0, 0.9801, 0.99]);
    let next_q_target = t(&[0.5, 1.5, 1.0, 9.0, 9.0, 9.0, 3.0, -2.0, 1.0, 0.0, 4.0, 1.0]).reshape([4, 3]);
    let next_q_online = t(&[2.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 5.0]).reshape([4, 3]);
    let weights = t(&[1.0, 0.5, 0.25, 1.0]);
    // (double, loss kind, weighted loss, gradient w.r.t. q)
    let cases: [(bool, TdLoss, f64, [f64; 12]); 4] = [
        (
            false,
            TdLoss::Huber,
            1.29169273,
            [0.0, -0.12125003, 0.0, 0.0, 0.0, 0.125, 0.03498125, 0.0, 0.0, 0.0, -0.25, 0.0],
        ),
        (
            false,
            TdLoss::Mse,
            5.74028587,
            [0.0, -0.24250007, 0.0, 0.0, 0.0, 0.75, 0.0699625, 0.0, 0.0, 0.0, -2.13000011, 0.0],
        ),
        (true, TdLoss::Huber, 0.85189056, [0.0, 0.12625, 0.0, 0.0, 0.0, 0.125, 0.0625, 0.0, 0.0, 0.0, -0.25, 0.0]),
        (true, TdLoss::Mse, 3.46814251, [0.0, 0.2525, 0.0, 0.0, 0.0, 0.75, 0.68252498, 0.0, 0.0, 0.0, -0.645, 0.0]),
    ];
    for (double, kind, want_loss, want_grad) in cases {
        let out = td_loss(
            &TdInputs {
                q: &q,
                actions: &actions,
                rewards: &rewards,
                discounts: &discounts,
                next_q_target: &next_q_target,
                next_q_online: double.then_some(&next_q_online),
                weights: &weights,
            },
            kind,
        );
        let loss = out.loss.double_value(&[]);
        assert!((loss - want_loss).abs() < 1e-5, "double {double} {kind:?}: loss {loss} vs {want_loss}");
        let grad = Tensor::run_backward(&[&out.loss], &[&q], false, false).remove(0);
        let grad = Vec::<f32>::try_from(grad.reshape([-1])).unwrap();
        assert!(close(&grad, &want_grad), "double {double} {kind:?}: grad {grad:?}");
    }
    // With unit weights the loss is SB3's F.smooth_l1_loss(current_q, target_q): 1.63356113 (plain DQN).
    let ones = Tensor::ones([4], (Kind::Float, tch::Device::Cpu));
    let out = td_loss(
        &TdInputs {
            q: &q,
            actions: &actions,
            rewards: &rewards,
            discounts: &discounts,
            next_q_target: &next_q_target,
            next_q_online: None,
            weights: &ones,
        },
        TdLoss::Huber,
    );
    assert!((out.loss.double_value(&[]) - 1.63356113).abs() < 1e-5);
    // TD errors (target - Q(s, a)) for the priorities: 2.485 - 2, 0 - 3, 1.9403 - 2.5, 4.46 - 0.2.
    let errors = Vec::<f32>::try_from(out.td_errors).unwrap();
    assert!(close(&errors, &[0.485, -3.0, -0.5597, 4.26]), "{errors:?}");
    assert!((out.mean_q - (2.0 + 3.0 + 2.5 + 0.2) / 4.0).abs() < 1e-6);
}
