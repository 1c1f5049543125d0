"""Reference for models/src/optimizer.rs (Adam): clip_grad_norm_(1.0) + Adam(lr=0.1, eps=1e-5) on loss = (w . x)^2, two steps."""
import torch

w = torch.tensor([0.5, -1.0], requires_grad=True)
x = torch.tensor([3.0, 4.0])
opt = torch.optim.Adam([w], lr=0.1, eps=1e-5)
for _ in range(2):
    opt.zero_grad()
    ((w * x).sum() ** 2).backward()
    norm = torch.nn.utils.clip_grad_norm_([w], 1.0)
    opt.step()
    print("grad norm before clipping", norm.item())
print("w", w.tolist())
