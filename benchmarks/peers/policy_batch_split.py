"""What overlapping env stepping with the policy's forward pass could win in PPO's Atari rollout (8 envs, one
intra-op thread): the overlap computes the actions of one half of the envs while the other half steps, so the
forward pass over 8 frames becomes two over 4. This times NatureCNN + SB3's heads without gradients at 8 frames
and at 4 (PyTorch eager, the LibTorch rlx calls), interleaved, medians of ROUNDS rounds of REPS calls.

The most the overlap can hide per env step is one half's forward pass; it costs the extra of two half passes over
one whole one. results/ppo_atari_profile.md turns these into seconds per rollout.

usage: python policy_batch_split.py [--rounds 5] [--reps 200]
"""
import argparse
import statistics
import time

import torch
import torch.nn as nn


def policy():
    """NatureCNN (84x84x4 frames) with a 4-way policy head and a value head, as SB3's CnnPolicy on Breakout."""
    features = nn.Sequential(nn.Conv2d(4, 32, 8, 4), nn.ReLU(), nn.Conv2d(32, 64, 4, 2), nn.ReLU(),
                             nn.Conv2d(64, 64, 3, 1), nn.ReLU(), nn.Flatten(), nn.Linear(3136, 512), nn.ReLU())
    return features, nn.Linear(512, 4), nn.Linear(512, 1)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--reps", type=int, default=200)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    features, pi, vf = policy()
    frames = {b: torch.randint(0, 256, (b, 4, 84, 84), dtype=torch.uint8) for b in (8, 4)}

    @torch.no_grad()
    def forward(x):
        h = features(x.float() / 255.0)
        return pi(h).softmax(-1), vf(h)

    def median_ms(b):
        for _ in range(10):
            forward(frames[b])
        times = []
        for _ in range(args.reps):
            start = time.perf_counter()
            forward(frames[b])
            times.append(time.perf_counter() - start)
        return 1e3 * statistics.median(times)

    rounds = [(median_ms(8), median_ms(4)) for _ in range(args.rounds)]
    whole = statistics.median(r[0] for r in rounds)
    half = statistics.median(r[1] for r in rounds)
    print(f"torch {torch.__version__}, 1 thread, medians of {args.rounds} rounds x {args.reps} calls")
    print(f"forward, 8 frames: {whole:.3f} ms")
    print(f"forward, 4 frames: {half:.3f} ms (two: {2 * half:.3f} ms, {2 * half / whole:.2f}x one pass of 8)")
    print(f"per env step the overlap hides at most {half:.3f} ms and costs {2 * half - whole:.3f} ms: "
          f"net {whole - half:.3f} ms")


if __name__ == "__main__":
    main()
