"""Reference numbers for rlx's RMSprop (models/src/optimizer.rs, test `rmsprop_matches_pytorch`): two clipped
updates of a tiny linear model with torch.optim.RMSprop, centered and with momentum (PyTorch 2.11.0)."""
import torch

for centered, momentum in [(True, 0.5), (False, 0.0)]:
    w = torch.tensor([0.5, -1.0], requires_grad=True)
    x = torch.tensor([3.0, 4.0])
    opt = torch.optim.RMSprop([w], lr=0.1, alpha=0.95, eps=0.01, centered=centered, momentum=momentum)
    norms = []
    for _ in range(2):
        opt.zero_grad()
        loss = (w * x).sum() ** 2
        loss.backward()
        norms.append(float(torch.nn.utils.clip_grad_norm_([w], 1.0)))
        opt.step()
    print(f"centered={centered} momentum={momentum}: w = {w.detach().tolist()}, norms = {norms}")
