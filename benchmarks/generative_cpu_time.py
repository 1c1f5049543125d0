"""`scripts/bench generative-cpu-time`: the CPU time each generative model's training costs in rlx and in PyTorch
eager, the work itself rather than the wall-clock epochs of generative_speed.py, whose rounds on this machine spread
more than the few percent between the two (run it on a quiet machine).

Measured as benchmarks/cpu_time.py describes: one intra-op thread each, CPU seconds from outside, the difference
between one epoch on the first SMALL and on the first LARGE Fashion-MNIST training images, rounds interleaved (ABBA),
medians over rounds.

rlx: `rlx generative fashion-MODEL --set data=FOLDER --set epochs=1` on a folder of IDX files cut from the fetched
set; PyTorch: benchmarks/peers/generative_torch.py (the same network, batch, optimizer and update) on the same images.

usage: python generative_cpu_time.py RLX_BINARY OUT.md [--models M ...] [--rounds N]
(the models not measured keep their rows from the kept records, OUT.json)
"""
import argparse
import itertools
import json
import os
import sys
import tempfile

import facts  # benchmarks/facts.py
from cpu_time import cpu_seconds, extra_cpu_seconds, keep, table_rows  # benchmarks/cpu_time.py
from generative_speed import cut_fashion
from side_by_side import kept_records  # benchmarks/side_by_side.py

HERE = os.path.dirname(os.path.abspath(__file__))
# (small, large) training images per model: the difference (390, 50 and 40 batches of 128) is tens of CPU seconds.
SIZES = {"vae": (10_000, 60_000), "dcgan": (3_200, 9_600), "ddpm": (1_280, 6_400)}


def rlx_cpu(rlx, model, folder, run):
    seconds, _ = cpu_seconds([rlx, "generative", f"fashion-{model}", "--seed", "0", "--device", "cpu", "--quiet",
                              "--run-dir", run, "--set", f"data={folder}", "--set", "epochs=1",
                              "--set", "fid_samples=0", "--set", "grid_size=1"])
    return seconds


def torch_cpu(model, n):
    seconds, out = cpu_seconds([sys.executable, os.path.join(HERE, "peers", "generative_torch.py"), model, str(n)])
    return seconds, json.loads(out.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("rlx")
    parser.add_argument("out")
    parser.add_argument("--models", nargs="+", default=list(SIZES), choices=list(SIZES))
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    kept_path, kept = kept_records(args.out)
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models:
            small, large = SIZES[model]
            for n in (small, large):
                os.makedirs(os.path.join(tmp, f"fashion-{n}"), exist_ok=True)
                cut_fashion(os.path.join(tmp, f"fashion-{n}"), n)
            runs, peer = itertools.count(), {}

            def measure(side, n):
                nonlocal peer
                if side == "rlx":
                    return rlx_cpu(args.rlx, model, os.path.join(tmp, f"fashion-{n}"),
                                   os.path.join(tmp, f"run-{model}-{next(runs)}"))
                seconds, peer = torch_cpu(model, n)
                return seconds

            ours, theirs = extra_cpu_seconds(measure, small, large, args.rounds, model)
            keep(kept_path, kept, model, small, large, ours, theirs, peer["torch"], peer["threads"])
    rows = [(m, kept[m]) for m in SIZES if m in kept]
    if not rows:
        sys.exit("nothing measured")
    first = rows[0][1]
    lines = [
        "# Generative models: CPU time of training, rlx vs PyTorch eager",
        "",
        f"`scripts/bench generative-cpu-time` (= `benchmarks/generative_cpu_time.py`), {facts.machine()}, each model "
        f"measured on the date shown. PyTorch {first['torch']} with {first['threads']} intra-op thread; rlx on the "
        "same LibTorch with one thread too. The CPU time (user + system) of training on the extra images between one "
        "epoch over the first `small` and one over the first `large` Fashion-MNIST training images, the presets' "
        "networks, batch, optimizer and update on both sides (benchmarks/peers/generative_torch.py); rounds "
        "interleaved, medians over the rounds. Wall-clock epochs with two threads are in generative_speed.md.",
        "",
        "| model | small / large images | rlx CPU s | PyTorch CPU s | PyTorch / rlx | rounds (rlx / PyTorch) | measured |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    lines += table_rows(rows)
    with open(args.out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
