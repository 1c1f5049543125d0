"""A network's forward and backward in PyTorch eager with contiguous (NCHW) tensors against channels-last ones
(the weights, and NatureCNN's input, re-laid out on every call, as rlx does on the CPU): why rlx's convolutions run
channels-last. Interleaved, median of 5 rounds, one intra-op thread (the CPU-time benchmarks' setting).

- `--model nature`: NatureCNN + a 5-way head on 84x84x4 frames (rlx's `NatureCnn::forward_in`);
- `--model resnet`: the ResNet-20 of benchmarks/peers/supervised_torch.py on 28x28 images, a cross-entropy loss on
  10 classes (rlx's `ResNet`);
- `--model unet|discriminator|generator`: the DDPM's UNet and DCGAN's two networks of
  benchmarks/peers/generative_torch.py, a training step of 128 (rlx keeps these NCHW: the layout does not pay).

usage: python conv_layout.py [--model nature|resnet|unet|discriminator|generator] [--threads 1]
"""
import argparse
import platform
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

import generative_torch  # benchmarks/peers/generative_torch.py
import supervised_torch  # benchmarks/peers/supervised_torch.py


def channels_last(t):
    return t.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2)


def nature_step():
    """`inputs(batch)` and `step(inputs, last, grad)` for NatureCNN on uint8 frames, and the cases to time: (batch,
    grad, repetitions)."""
    convs = [nn.Conv2d(4, 32, 8, 4), nn.Conv2d(32, 64, 4, 2), nn.Conv2d(64, 64, 3, 1)]
    fc, head = nn.Linear(3136, 512), nn.Linear(512, 5)
    params = [p for c in convs for p in c.parameters()] + list(fc.parameters()) + list(head.parameters())

    def inputs(batch):
        return torch.randint(0, 256, (batch, 4, 84, 84), dtype=torch.uint8)

    def step(frames, last, grad):
        x = frames.float() / 255
        if last:
            x = channels_last(x)
        for conv, stride in zip(convs, [4, 2, 1]):
            x = F.conv2d(x, channels_last(conv.weight) if last else conv.weight, conv.bias, stride).relu()
        y = head(fc(x.flatten(1)).relu())
        if grad:
            torch.autograd.grad(y.square().mean(), params)
    return inputs, step, [(8, False, 100), (32, False, 30), (32, True, 20), (256, True, 3)]


def module_step(model, inputs, loss_of, cases):
    """`inputs`, `step(inputs, last, grad)` and `cases` for an nn.Module: channels-last re-lays out the weights of
    its (transposed) convolutions on every call, as rlx does; the inputs stay as they are."""
    params = list(model.parameters())
    convs = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]

    def relaid(conv):
        if isinstance(conv, nn.Conv2d):
            return lambda x: conv._conv_forward(x, channels_last(conv.weight), conv.bias)
        return lambda x: F.conv_transpose2d(x, channels_last(conv.weight), conv.bias, conv.stride, conv.padding,
                                            conv.output_padding, conv.groups, conv.dilation)

    def step(x, last, grad):
        for conv in convs:  # an instance's `forward` shadows the class's; deleting it restores the plain one
            if last:
                conv.forward = relaid(conv)
            elif "forward" in vars(conv):
                del conv.forward
        loss = loss_of(x)
        if grad:
            torch.autograd.grad(loss, params)
    return inputs, step, cases


def resnet_step():
    """ResNet-20 on 28x28 one-channel images (such a batch is channels-last as it is)."""
    model = supervised_torch.ResNet(3)
    return module_step(model, lambda b: (torch.rand(b, 1, 28, 28), torch.randint(0, 10, (b,))),
                       lambda x: F.cross_entropy(model(x[0]), x[1]),
                       [(1, False, 50), (8, False, 30), (128, True, 4), (1000, False, 1)])


def generative_step(name):
    """The generative peers' networks (benchmarks/peers/generative_torch.py), a training step of 128 images."""
    if name == "unet":
        model = generative_torch.UNet(32, 0.1)
        inputs = lambda b: (torch.rand(b, 1, 28, 28), torch.randint(1000, (b,)))
        loss_of = lambda x: model(*x).square().mean()
    elif name == "discriminator":
        model = generative_torch.Discriminator()
        inputs, loss_of = (lambda b: torch.rand(b, 1, 28, 28)), (lambda x: model(x).square().mean())
    else:
        model = generative_torch.Generator()
        inputs, loss_of = (lambda b: torch.randn(b, 100)), (lambda x: model(x).square().mean())
    return module_step(model, inputs, loss_of, [(128, True, 2)])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", choices=["nature", "resnet", "unet", "discriminator", "generator"],
                        default="nature")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    inputs, step, cases = (nature_step() if args.model == "nature" else resnet_step() if args.model == "resnet"
                           else generative_step(args.model))
    print(f"{args.model}: PyTorch {torch.__version__}, {args.threads} thread(s), {platform.processor() or platform.machine()}")
    print("| batch | pass | contiguous (ms) | channels-last (ms) | speed-up |\n|---:|---|---:|---:|---:|")
    for batch, grad, reps in cases:
        x = inputs(batch)
        times = {False: [], True: []}
        for _ in range(5):
            for last in (False, True):
                with torch.set_grad_enabled(grad):
                    step(x, last, grad)
                    start = time.perf_counter()
                    for _ in range(reps):
                        step(x, last, grad)
                times[last].append((time.perf_counter() - start) / reps * 1000)
        plain, last = (sorted(times[k])[2] for k in (False, True))
        kind = "forward + backward" if grad else "forward (no grad)"
        print(f"| {batch} | {kind} | {plain:.1f} | {last:.1f} | {plain / last:.2f}x |")


if __name__ == "__main__":
    main()
