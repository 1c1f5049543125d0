"""Does making every parameter a view of one flat buffer, as rlx's optimizer does (models/src/optimizer.rs), slow
PyTorch's ResNet-20 training step? One thread; CPU time of STEPS steps (batch 128, random 28x28 images, SGD with
Nesterov momentum and weight decay as presets/supervised/fashion-resnet.toml), plain parameters against flat views,
in the order plain, flat, flat, plain, plain, flat. Recorded in results/resnet_profile.md.

usage: OMP_NUM_THREADS=1 python flat_param_views.py
"""
import time

import torch
import torch.nn.functional as F

import supervised_torch as peer  # benchmarks/peers/supervised_torch.py
torch.set_num_threads(1)
STEPS = 40

def make(flat):
    torch.manual_seed(0)
    model = peer.ResNet(3)
    if flat:
        params = list(model.parameters())
        buf = torch.cat([p.detach().reshape(-1) for p in params])
        off = 0
        for p in params:
            n = p.numel()
            p.data = buf[off:off + n].view_as(p)
            off += n
    opt = torch.optim.SGD(model.parameters(), 0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
    return model, opt

x = torch.rand(128, 1, 28, 28)
y = torch.randint(0, 10, (128,))
def run(flat):
    model, opt = make(flat)
    for i in range(5 + STEPS):
        if i == 5:
            start = time.process_time()
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return time.process_time() - start

results = {False: [], True: []}
for order in [False, True, True, False, False, True]:
    results[order].append(run(order))
    print("flat" if order else "plain", f"{results[order][-1]:.2f} s", flush=True)
for k, v in results.items():
    print("flat" if k else "plain", sorted(v))
