"""The CPU-time measurement that supervised_cpu_time.py and generative_cpu_time.py share: the work a training costs
rather than its wall-clock time, which on this machine varies by up to a third between two runs of the same binary.

Each side (rlx, PyTorch) runs with one intra-op thread (OMP_NUM_THREADS=1: no OpenMP threads spinning at barriers,
whose CPU time counts but does no work) and is measured from outside, by the user + system CPU seconds of the whole
process (`os.wait4`). Each side trains one epoch on a SMALL and on a LARGE training set; the difference is the CPU
time of training on the extra examples, with start-up, data loading and evaluation cancelled out. Rounds interleave
the two sides (ABBA).
"""
import os
import statistics
import subprocess
import sys

import facts  # benchmarks/facts.py
from side_by_side import write_records  # benchmarks/side_by_side.py


def cpu_seconds(command):
    """User + system CPU seconds of `command` (and its threads), run to completion with one intra-op thread, and its
    standard output."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    out = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    if status != 0:
        sys.exit(f"{command[0]} failed (status {status})")
    return usage.ru_utime + usage.ru_stime, out


def extra_cpu_seconds(measure, small, large, rounds, label):
    """`measure(side, n)` -> CPU seconds of one run of `side` ("rlx" or "torch") on n examples. Returns, per round,
    the CPU seconds each side spent on the `large - small` extra examples: ([rlx...], [torch...]). Round r runs
    rlx, torch on the small set then torch, rlx on the large one, and the mirror order the round after."""
    ours, theirs = [], []
    for r in range(rounds):
        measured = {}
        order = ["rlx", "torch"] if r % 2 == 0 else ["torch", "rlx"]
        for n, sides in ((small, order), (large, order[::-1])):
            for side in sides:
                measured[side, n] = measure(side, n)
        ours.append(measured["rlx", large] - measured["rlx", small])
        theirs.append(measured["torch", large] - measured["torch", small])
        print(f"{label} round {r + 1}: rlx {ours[-1]:.1f} s, PyTorch {theirs[-1]:.1f} s", file=sys.stderr)
    return ours, theirs


def keep(path, kept, name, small, large, ours, theirs, torch_version, threads):
    """Adds `name`'s measurement (per-round CPU seconds of each side) to `kept` and writes them all to `path`."""
    kept[name] = {"small": small, "large": large, "rlx_s": ours, "torch_s": theirs, "torch": torch_version,
                  "threads": threads, "date": facts.now()}
    write_records(path, kept)


def table_rows(rows):
    """Markdown rows for (name, record) pairs: sizes, the medians of both sides, their ratio, every round, the date."""
    lines = []
    for name, r in rows:
        ours, theirs = statistics.median(r["rlx_s"]), statistics.median(r["torch_s"])
        each = ", ".join(f"{a:.1f} / {b:.1f}" for a, b in zip(r["rlx_s"], r["torch_s"]))
        lines.append(f"| {name} | {r['small']:,} / {r['large']:,} | {ours:.1f} | {theirs:.1f} | "
                     f"**{theirs / ours:.2f}x** | {each} | {r['date']} |")
    return lines
