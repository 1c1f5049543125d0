"""Reference numbers for rlx's DQN TD loss (agents/tests/dqn_loss.rs), computed with PyTorch 2.11.0 as SB3's
DQN.train does: target = r + discount * max_a' Q_target(s', a') (Double DQN: Q_target(s', argmax_a' Q(s', a'))),
loss = smooth_l1_loss(Q(s, a), target) (or MSE), here per sample and weighted by importance weights."""
import torch
import torch.nn.functional as F

q = torch.tensor([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0], [2.5, 2.0, -0.5], [0.1, 0.2, 0.3]], requires_grad=True)
actions = torch.tensor([1, 2, 0, 1])
rewards = torch.tensor([1.0, 0.0, -1.0, 0.5])
discounts = torch.tensor([0.99, 0.0, 0.9801, 0.99])  # the second transition terminated; the third is 2-step
next_q_target = torch.tensor([[0.5, 1.5, 1.0], [9.0, 9.0, 9.0], [3.0, -2.0, 1.0], [0.0, 4.0, 1.0]])
next_q_online = torch.tensor([[2.0, 0.0, 1.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 5.0]])
weights = torch.tensor([1.0, 0.5, 0.25, 1.0])

for double in (False, True):
    with torch.no_grad():
        if double:
            next_v = next_q_target.gather(1, next_q_online.argmax(1, keepdim=True)).squeeze(1)
        else:
            next_v = next_q_target.max(1).values
        target = rewards + discounts * next_v
    for kind in ("huber", "mse"):
        taken = q.gather(1, actions.unsqueeze(1)).squeeze(1)
        per = F.smooth_l1_loss(taken, target, reduction="none") if kind == "huber" else (target - taken) ** 2
        loss = (per * weights).mean()
        grad, = torch.autograd.grad(loss, q)
        unweighted = F.smooth_l1_loss(taken, target) if kind == "huber" else F.mse_loss(taken, target)
        print(f"double={double} {kind}: target={target.tolist()} loss={loss.item():.8f} "
              f"unweighted={unweighted.item():.8f} grad={grad.tolist()}")
