"""NatureCNN's forward and backward in PyTorch eager with contiguous (NCHW) tensors against channels-last ones
(the input and the weights re-laid out on every call, as rlx's `NatureCnn::forward_in` does on the CPU): why rlx's
convolutions run channels-last. Interleaved, median of 5 rounds, one intra-op thread (PPO's benchmark setting).

usage: python conv_layout.py [--threads 1]
"""
import argparse
import platform
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def channels_last(t):
    return t.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    convs = [nn.Conv2d(4, 32, 8, 4), nn.Conv2d(32, 64, 4, 2), nn.Conv2d(64, 64, 3, 1)]
    fc, head = nn.Linear(3136, 512), nn.Linear(512, 5)
    params = [p for c in convs for p in c.parameters()] + list(fc.parameters()) + list(head.parameters())

    def step(frames, last, grad):
        x = frames.float() / 255
        if last:
            x = channels_last(x)
        for conv, stride in zip(convs, [4, 2, 1]):
            x = F.conv2d(x, channels_last(conv.weight) if last else conv.weight, conv.bias, stride).relu()
        y = head(fc(x.flatten(1)).relu())
        if grad:
            torch.autograd.grad(y.square().mean(), params)

    print(f"PyTorch {torch.__version__}, {args.threads} thread(s), {platform.processor() or platform.machine()}")
    print("| batch | pass | contiguous (ms) | channels-last (ms) | speed-up |\n|---:|---|---:|---:|---:|")
    for batch, grad, reps in [(8, False, 100), (32, False, 30), (32, True, 20), (256, True, 3)]:
        frames = torch.randint(0, 256, (batch, 4, 84, 84), dtype=torch.uint8)
        times = {False: [], True: []}
        for _ in range(5):
            for last in (False, True):
                with torch.set_grad_enabled(grad):
                    step(frames, last, grad)
                    start = time.perf_counter()
                    for _ in range(reps):
                        step(frames, last, grad)
                times[last].append((time.perf_counter() - start) / reps * 1000)
        plain, last = (sorted(times[k])[2] for k in (False, True))
        kind = "forward + backward" if grad else "forward (no grad)"
        print(f"| {batch} | {kind} | {plain:.1f} | {last:.1f} | {plain / last:.2f}x |")


if __name__ == "__main__":
    main()
