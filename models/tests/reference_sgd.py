"""Reference values for rlx's SGD (momentum, Nesterov) and L2 weight decay (Adam and SGD), from PyTorch 2.11.0:
the tiny model of reference_adam.py, loss = (w . x)^2 with w = [0.5, -1], x = [3, 4], three steps, no clipping.
Prints the weights after each step; models/src/optimizer.rs's tests hold the numbers."""
import torch

for name, make in [
    ("sgd momentum 0.9 lr 0.01", lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.9)),
    ("sgd nesterov 0.9 lr 0.01 wd 0.1", lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.9, nesterov=True, weight_decay=0.1)),
    ("adam lr 0.1 wd 0.1", lambda p: torch.optim.Adam(p, lr=0.1, weight_decay=0.1)),
]:
    w = torch.tensor([0.5, -1.0], requires_grad=True)
    x = torch.tensor([3.0, 4.0])
    opt = make([w])
    steps = []
    for _ in range(3):
        opt.zero_grad()
        ((w * x).sum() ** 2).backward()
        opt.step()
        steps.append([round(v, 7) for v in w.tolist()])
    print(name, steps)
