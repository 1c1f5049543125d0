"""The cost of the ways to write DCGAN's leaky ReLU (slope 0.2) with the ops tch 0.24 binds, against PyTorch's
F.leaky_relu: forward + backward at the discriminator's two activation shapes, batch 128, one thread. The reason
models/src/dcgan.rs uses `lerp(x, relu(x), 0.8)` (tch's `leaky_relu` has the slope 0.01 fixed).

usage: python leaky_relu_cost.py   (prints the fastest block's milliseconds per forward + backward)
"""
import time

import torch
import torch.nn.functional as F

SHAPES = [(128, 64, 14, 14), (128, 128, 7, 7)]  # after conv1 and after conv2 + batch norm
SLOPE = torch.tensor([0.2])
WAYS = {
    "F.leaky_relu (PyTorch)": lambda x: F.leaky_relu(x, 0.2),
    "lerp(x, relu(x), 0.8) (rlx)": lambda x: torch.lerp(x, F.relu(x), 0.8),
    "0.2 x + 0.8 relu(x)": lambda x: (x * 0.2).add(F.relu(x), alpha=0.8),
    "prelu, fixed weight 0.2": lambda x: F.prelu(x, SLOPE),
    "max(x, 0.2 x)": lambda x: torch.maximum(x, x * 0.2),
}


def milliseconds(f, shape, blocks=7, repeats=10):
    """The fastest of `blocks` means over `repeats` forward + backward passes: the allocator and the machine's other
    work only ever add time."""
    x = torch.randn(shape, requires_grad=True)
    g = torch.randn(shape)
    for _ in range(3):
        f(x).backward(g)
    best = float("inf")
    for _ in range(blocks):
        start = time.perf_counter()
        for _ in range(repeats):
            f(x).backward(g)
        best = min(best, (time.perf_counter() - start) / repeats * 1e3)
    return best


def main():
    torch.set_num_threads(1)
    x = torch.randn(10_000)
    for name, f in WAYS.items():
        assert torch.allclose(f(x), F.leaky_relu(x, 0.2), atol=1e-6), name
    for name, f in WAYS.items():
        each = [milliseconds(f, s) for s in SHAPES]
        print(f"{name:30s} " + "  ".join(f"{m:6.2f}" for m in each) + f"  total {sum(each):6.2f} ms")


if __name__ == "__main__":
    main()
