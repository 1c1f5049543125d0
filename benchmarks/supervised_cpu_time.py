"""`scripts/bench supervised-cpu-time`: the CPU time a seq2seq task's training costs in rlx and in PyTorch eager, the
work itself rather than the wall-clock time, which on this machine varies by up to a third between two runs of the
same binary (other processes still move it through the shared caches: run it on a quiet machine).

Measured as benchmarks/cpu_time.py describes: one intra-op thread each, CPU seconds from outside, the difference
between one epoch on SMALL examples and one on the preset's own count, rounds interleaved (ABBA), medians over
rounds.

rlx: `rlx supervised TASK --set epochs=1 --set n_train=N`; PyTorch: benchmarks/peers/supervised_torch.py's
`seq2seq()` with the same preset and n_train = N.

usage: python supervised_cpu_time.py RLX_BINARY OUT.md [--tasks T ...] [--small N] [--rounds N]
"""
import argparse
import json
import os
import statistics
import sys
import tempfile
import tomllib

import facts  # benchmarks/facts.py
from cpu_time import cpu_seconds, extra_cpu_seconds  # benchmarks/cpu_time.py

HERE = os.path.dirname(os.path.abspath(__file__))
TASKS = ["seq2seq-dates", "seq2seq-addition"]
TORCH_RUN = """
import json, random, sys, tomllib, torch
sys.path.insert(0, {peers!r})
import supervised_torch
p = tomllib.load(open({preset!r}, "rb"))
p["n_train"] = {n}
torch.manual_seed(0)
random.seed(0)
print(json.dumps([torch.__version__, torch.get_num_threads()]))
supervised_torch.seq2seq({task!r}, p, 1)
"""


def rlx_cpu(rlx, task, n):
    with tempfile.TemporaryDirectory() as tmp:
        seconds, _ = cpu_seconds([rlx, "supervised", task, "--seed", "0", "--device", "cpu", "--quiet",
                                  "--run-dir", os.path.join(tmp, "run"), "--set", "epochs=1", "--set", f"n_train={n}"])
    return seconds


def torch_cpu(task, n):
    preset = os.path.join(HERE, "..", "presets", "supervised", f"{task}.toml")
    code = TORCH_RUN.format(peers=os.path.join(HERE, "peers"), preset=preset, n=n, task=task)
    seconds, out = cpu_seconds([sys.executable, "-c", code])
    return seconds, out.splitlines()[0]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("rlx")
    parser.add_argument("out")
    parser.add_argument("--tasks", nargs="+", default=TASKS, choices=TASKS)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rows, versions = [], '["?", "?"]'
    for task in args.tasks:
        large = tomllib.load(open(os.path.join(HERE, "..", "presets", "supervised", f"{task}.toml"), "rb"))["n_train"]
        versions_seen = []

        def measure(side, n):
            if side == "rlx":
                return rlx_cpu(args.rlx, task, n)
            seconds, seen = torch_cpu(task, n)
            versions_seen.append(seen)
            return seconds

        ours, theirs = extra_cpu_seconds(measure, args.small, large, args.rounds, task)
        versions = versions_seen[-1]
        rows.append((task, large - args.small, ours, theirs))
    torch_version, threads = json.loads(versions)
    lines = [
        "# seq2seq training: CPU time, rlx vs PyTorch eager",
        "",
        f"`scripts/bench supervised-cpu-time` (= `benchmarks/supervised_cpu_time.py`), {facts.machine()}, "
        f"{facts.now()}. PyTorch {torch_version} with {threads} intra-op thread; rlx on the same "
        "LibTorch with one thread too. The CPU time (user + system) of training on the extra examples between a run "
        f"of {args.small:,} training examples and one of the preset's count, one epoch each, same preset, batch, "
        f"optimizer and clipping; rounds interleaved, medians over {args.rounds} rounds. Wall-clock epochs with "
        "two threads are in supervised_speed.md.",
        "",
        "| task | extra examples | rlx CPU s | PyTorch CPU s | PyTorch / rlx | rounds (rlx / PyTorch) |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for task, extra, ours, theirs in rows:
        each = ", ".join(f"{a:.1f} / {b:.1f}" for a, b in zip(ours, theirs))
        lines.append(f"| {task} | {extra:,} | {statistics.median(ours):.1f} | {statistics.median(theirs):.1f} | "
                     f"**{statistics.median(theirs) / statistics.median(ours):.2f}x** | {each} |")
    with open(args.out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
