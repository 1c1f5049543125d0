"""Soak benchmark: long rlx runs with their resident memory (VmRSS) sampled over time, to show it stays flat.

usage: soak.py RLX_BINARY OUT.md [--ppo-steps N] [--atari-steps N]

Runs, one after the other, a long PPO CartPole-v1 run and a PPO Atari run (Pong through the threaded env pool,
8 envs on 2 threads), samples each process's VmRSS from /proc every second, and writes a table to OUT.md: RSS at
each tenth of the run, the peak, and the trend from 50% to 95% of the run (a least-squares slope, after warm-up,
allocator pools and LibTorch's caches have settled; a leak shows as a steady positive slope there).
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

import facts  # benchmarks/facts.py


def rss_mb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except FileNotFoundError:
        return None
    return None


def soak(name, command):
    print(f"==> {name}: {' '.join(command)}", file=sys.stderr)
    start = time.time()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    samples = []  # (seconds since start, RSS MB)
    while proc.poll() is None:
        mb = rss_mb(proc.pid)
        if mb is not None:
            samples.append((time.time() - start, mb))
        time.sleep(1.0)
    if proc.returncode != 0:
        sys.exit(f"{name} failed with exit code {proc.returncode}: {' '.join(command)}")
    return samples


def slope_mb_per_min(samples):
    """Least-squares slope of RSS against time: robust to the sawtooth of allocator pools, unlike two endpoints."""
    n = len(samples)
    mean_t = sum(t for t, _ in samples) / n
    mean_mb = sum(mb for _, mb in samples) / n
    var = sum((t - mean_t) ** 2 for t, _ in samples)
    cov = sum((t - mean_t) * (mb - mean_mb) for t, mb in samples)
    return 60.0 * cov / var if var > 0 else 0.0


def summarize(samples):
    n = len(samples)
    tenths = [samples[min(n - 1, round(i * (n - 1) / 10))] for i in range(11)]
    # The steady state: from half-way (warm-up, allocator pools and LibTorch's caches have settled) to 95%
    # (the last seconds write the final checkpoint and summary, a one-off, not growth).
    steady = samples[n // 2 : max(n // 2 + 2, round(0.95 * n))]
    slope = slope_mb_per_min(steady)
    minutes = (steady[-1][0] - steady[0][0]) / 60.0
    return tenths, max(mb for _, mb in samples), slope, slope * minutes


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("rlx")
    parser.add_argument("out")
    parser.add_argument("--ppo-steps", type=int, default=1_000_000)
    parser.add_argument("--atari-steps", type=int, default=100_000)
    args = parser.parse_args()
    runs = tempfile.mkdtemp(prefix="rlx-soak-")
    cases = [
        (
            f"PPO CartPole-v1, {args.ppo_steps:,} steps",
            [args.rlx, "train", "ppo", "--env", "CartPole-v1", "--device", "cpu", "--seed", "0",
             "--run-dir", os.path.join(runs, "cartpole"), "--set", f"total_timesteps={args.ppo_steps}"],
        ),
        (
            f"PPO PongNoFrameskip-v4 (8 envs, 2 threads), {args.atari_steps:,} steps",
            [args.rlx, "train", "ppo", "--env", "PongNoFrameskip-v4", "--device", "cpu", "--seed", "0",
             "--run-dir", os.path.join(runs, "pong"), "--set", f"total_timesteps={args.atari_steps}"],
        ),
    ]
    rows = []
    for name, command in cases:
        samples = soak(name, command)
        rows.append((name, command, samples, *summarize(samples)))

    date = facts.now()
    lines = [
        "# Soak: resident memory of long runs",
        "",
        f"Measured {date} on {facts.machine()} with "
        f"`python benchmarks/soak.py {args.rlx} {args.out} --ppo-steps {args.ppo_steps} --atari-steps {args.atari_steps}`"
        " (`scripts/bench soak`).",
        "VmRSS sampled every second from /proc. The trend is the least-squares slope of RSS from 50% to 95% of each run"
        " (after warm-up; the last seconds write the final checkpoint) and the growth it implies over that window.",
        "",
        "| run | wall-clock | " + " | ".join(f"{10 * i}%" for i in range(11)) + " | peak | trend, 50-95% |",
        "|---|---:|" + "---:|" * 11 + "---:|---:|",
    ]
    for name, _, samples, tenths, peak, slope, growth in rows:
        cells = " | ".join(f"{mb:.0f}" for _, mb in tenths)
        lines.append(
            f"| {name} | {samples[-1][0]:.0f} s | {cells} | {peak:.0f} | {slope:+.2f} MB/min ({growth:+.1f} MB) |"
        )
    lines += ["", "RSS in MB. Commands:", ""]
    lines += [f"- `{' '.join(c)}`" for _, c, *_ in rows]
    with open(args.out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
