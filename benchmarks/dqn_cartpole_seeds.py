"""DQN on CartPole-v1 with rl-zoo3's preset, many seeds of rlx and of Stable-Baselines3 side by side: the final
greedy score of each seed, to show both frameworks' spread at this budget (the preset is seed-sensitive) and the
seed agents/tests/dqn_learns.rs pins.

usage: dqn_cartpole_seeds.py RLX_BINARY OUT.md [--seeds N]

Each seed trains rlx and SB3 at the same time, one thread each (one core each on this 2-core machine), then each
plays 10 greedy episodes on a fresh env seeded 10000. rlx: `rlx train dqn --env CartPole-v1 --seed S` and
`rlx eval RUN --episodes 10 --epsilon 0 --seed 10000`; SB3: benchmarks/peers/dqn_cartpole_sb3.py.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import facts  # benchmarks/facts.py

SOLVED = 475.0  # Gymnasium's reward_threshold for CartPole-v1
PEER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "peers", "dqn_cartpole_sb3.py")


def one_thread():
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return env


def run_seed(rlx, seed, runs):
    """Trains rlx and SB3 on `seed` concurrently; returns (rlx mean return, rlx seconds, SB3's JSON record)."""
    run = os.path.join(runs, f"cp{seed}")
    train = [rlx, "train", "dqn", "--env", "CartPole-v1", "--seed", str(seed), "--device", "cpu", "--run-dir", run,
             "--quiet", "--set", "checkpoint_interval=0", "--set", "save_replay=false"]
    start = time.perf_counter()
    ours = subprocess.Popen(train, env=one_thread(), stdout=subprocess.DEVNULL)
    peer = subprocess.Popen([sys.executable, PEER, str(seed)], env=one_thread(), stdout=subprocess.PIPE, text=True)
    if ours.wait() != 0:
        sys.exit(f"rlx seed {seed} failed: {' '.join(train)}")
    seconds = time.perf_counter() - start
    out = subprocess.run([rlx, "eval", run, "--episodes", "10", "--epsilon", "0", "--seed", "10000"], check=True,
                         capture_output=True, text=True, env=one_thread()).stdout
    mean = float(next(line.split()[1] for line in out.splitlines() if line.startswith("mean_return ")))
    peer_out, _ = peer.communicate()
    if peer.returncode != 0:
        sys.exit(f"SB3 seed {seed} failed")
    return mean, seconds, json.loads(peer_out.strip().splitlines()[-1])


def describe(scores):
    solved = sum(s >= SOLVED for s in scores)
    return f"{solved} of {len(scores)} solved (>= {SOLVED:.0f}), median {statistics.median(scores):.1f}, " \
           f"mean {statistics.mean(scores):.1f}"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("rlx")
    parser.add_argument("out")
    parser.add_argument("--seeds", type=int, default=14)
    args = parser.parse_args()
    runs = tempfile.mkdtemp(prefix="rlx-dqn-cartpole-")
    rows = []
    for seed in range(args.seeds):
        ours, seconds, peer = run_seed(args.rlx, seed, runs)
        print(f"seed {seed}: rlx {ours:.1f} ({seconds:.0f} s), SB3 {peer['mean_return']:.1f} ({peer['seconds']:.0f} s)",
              file=sys.stderr, flush=True)
        rows.append((seed, ours, seconds, peer))

    rlx_scores = [r[1] for r in rows]
    sb3_scores = [r[3]["mean_return"] for r in rows]
    versions = f"SB3 {rows[0][3]['sb3']}, Gymnasium {rows[0][3]['gymnasium']}"
    seeds = " | ".join(str(r[0]) for r in rows)
    lines = [
        "# DQN on CartPole-v1 with the rl-zoo3 preset: final greedy score per seed, rlx and Stable-Baselines3",
        "",
        f"Measured {facts.now()} on {facts.machine()} with `scripts/bench dqn-cartpole --seeds {args.seeds}` "
        f"(benchmarks/dqn_cartpole_seeds.py; {versions}). Preset `presets/dqn/CartPole-v1.toml` (rl-zoo3: 5e4 steps, "
        "lr 2.3e-3, batch 64, buffer 100k, learning_starts 1000, target every 10 steps, train_freq 256, "
        "gradient_steps 128, epsilon 1 -> 0.04 over 16%, [256, 256], PyTorch's default initialization in both). "
        "Each seed trains rlx and SB3 at the same time, one thread each; then 10 greedy episodes on a fresh env "
        "seeded 10000 (`rlx eval RUN --episodes 10 --epsilon 0 --seed 10000`; SB3's `evaluate_policy(..., "
        "deterministic=True)`).",
        "",
        f"| seed | {seeds} |",
        "|---|" + "---:|" * len(rows),
        "| rlx | " + " | ".join(f"{s:.1f}" for s in rlx_scores) + " |",
        "| SB3 | " + " | ".join(f"{s:.1f}" for s in sb3_scores) + " |",
        "",
        f"- rlx: {describe(rlx_scores)}; {statistics.mean(r[2] for r in rows):.0f} s per run.",
        f"- SB3: {describe(sb3_scores)}; {statistics.mean(r[3]['seconds'] for r in rows):.0f} s per run.",
        "",
        "The seeds of the two frameworks are not the same random draws (different generators), so only the "
        "distributions compare. agents/tests/dqn_learns.rs pins a seed that solves it, so a change that breaks "
        "learning fails that test.",
    ]
    with open(args.out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
