"""Reference values for rlx's decoupled weight decay (AdamW) with nanoGPT's grouping, from PyTorch 2.11.0: a 2-D
weight w (decays) and a bias b (does not), loss = (sum(w @ x) + b)^2 with w = [[0.5, -1], [0.25, 0.75]],
b = [0.3], x = [3, 4], torch.optim.AdamW(lr=0.1, betas=(0.9, 0.95), weight_decay=0.5) over the two groups,
gradients clipped to norm 1, three steps. Prints both after each step; models/src/optimizer.rs's test holds them."""
import torch

w = torch.tensor([[0.5, -1.0], [0.25, 0.75]], requires_grad=True)
b = torch.tensor([0.3], requires_grad=True)
x = torch.tensor([3.0, 4.0])
opt = torch.optim.AdamW([{"params": [w], "weight_decay": 0.5}, {"params": [b], "weight_decay": 0.0}],
                        lr=0.1, betas=(0.9, 0.95))
for _ in range(3):
    opt.zero_grad()
    (((w @ x).sum() + b) ** 2).sum().backward()
    torch.nn.utils.clip_grad_norm_([w, b], 1.0)
    opt.step()
    print([round(v, 7) for v in w.flatten().tolist()], [round(v, 7) for v in b.tolist()])
