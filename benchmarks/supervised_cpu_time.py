"""`scripts/bench supervised-cpu-time`: the CPU time a supervised task's training costs in rlx and in PyTorch eager,
the work itself rather than the wall-clock time, which on this machine varies by up to a third between two runs of
the same binary (other processes still move it through the shared caches: run it on a quiet machine).

Measured as benchmarks/cpu_time.py describes: one intra-op thread each, CPU seconds from outside, the difference
between one epoch on SMALL and one on LARGE training examples, rounds interleaved (ABBA), medians over rounds.

- seq2seq tasks: rlx `rlx supervised TASK --set epochs=1 --set n_train=N`; PyTorch: benchmarks/peers/
  supervised_torch.py's `seq2seq()` with the same preset and n_train = N. LARGE is the preset's own count.
- Fashion-MNIST classifiers: rlx `rlx supervised TASK --set data=FOLDER --set epochs=1` on IDX files of the first N
  training images (and 1,000 test ones) cut from the fetched set; PyTorch: `classify()` on the same images.

usage: python supervised_cpu_time.py RLX_BINARY OUT.md [--tasks T ...] [--rounds N]
(the tasks not measured keep their rows from the kept records, OUT.json; `--tasks` alone rewrites OUT.md from them)
"""
import argparse
import itertools
import json
import os
import sys
import tempfile
import tomllib

import facts  # benchmarks/facts.py
from cpu_time import cpu_seconds, extra_cpu_seconds, keep, table_rows  # benchmarks/cpu_time.py
from generative_speed import cut_fashion
from side_by_side import kept_records  # benchmarks/side_by_side.py

HERE = os.path.dirname(os.path.abspath(__file__))


def preset(task):
    return tomllib.load(open(os.path.join(HERE, "..", "presets", "supervised", f"{task}.toml"), "rb"))


# (small, large) training examples per task: the difference is tens of CPU seconds of training.
SIZES = {
    "seq2seq-dates": (10_000, preset("seq2seq-dates")["n_train"]),
    "seq2seq-addition": (10_000, preset("seq2seq-addition")["n_train"]),
    "fashion-resnet": (2_560, 12_800),
}
TORCH_RUN = """
import json, random, sys, tomllib, torch
sys.path.insert(0, {peers!r})
import supervised_torch
p = tomllib.load(open({preset!r}, "rb"))
torch.manual_seed(0)
random.seed(0)
print(json.dumps([torch.__version__, torch.get_num_threads()]))
if {task!r}.startswith("seq2seq"):
    p["n_train"] = {n}
    supervised_torch.seq2seq({task!r}, p, 1)
else:  # the first n training images and 1,000 test ones, as the cut IDX folder rlx reads
    xtr, ytr, xte, yte = supervised_torch.image_split(p["dataset"])
    supervised_torch.image_split = lambda _: (xtr[:{n}], ytr[:{n}], xte[:1000], yte[:1000])
    supervised_torch.classify(p, 1)
"""


def rlx_cpu(rlx, task, n, tmp, run):
    command = [rlx, "supervised", task, "--seed", "0", "--device", "cpu", "--quiet", "--run-dir", run,
               "--set", "epochs=1"]
    if task.startswith("seq2seq"):
        command += ["--set", f"n_train={n}"]
    else:
        folder = os.path.join(tmp, f"fashion-{n}")
        if not os.path.isdir(folder):
            os.makedirs(folder)
            cut_fashion(folder, n)
        command += ["--set", f"data={folder}"]
    seconds, _ = cpu_seconds(command)
    return seconds


def torch_cpu(task, n):
    code = TORCH_RUN.format(peers=os.path.join(HERE, "peers"),
                            preset=os.path.join(HERE, "..", "presets", "supervised", f"{task}.toml"), n=n, task=task)
    seconds, out = cpu_seconds([sys.executable, "-c", code])
    return seconds, json.loads(out.splitlines()[0])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("rlx")
    parser.add_argument("out")
    parser.add_argument("--tasks", nargs="*", default=list(SIZES), choices=list(SIZES))
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    kept_path, kept = kept_records(args.out)
    with tempfile.TemporaryDirectory() as tmp:
        for task in args.tasks:
            small, large = SIZES[task]
            runs, peer = itertools.count(), ["?", "?"]

            def measure(side, n):
                nonlocal peer
                if side == "rlx":
                    return rlx_cpu(args.rlx, task, n, tmp, os.path.join(tmp, f"run-{task}-{next(runs)}"))
                seconds, peer = torch_cpu(task, n)
                return seconds

            ours, theirs = extra_cpu_seconds(measure, small, large, args.rounds, task)
            keep(kept_path, kept, task, small, large, ours, theirs, peer[0], peer[1])
    rows = [(t, kept[t]) for t in SIZES if t in kept]
    if not rows:
        sys.exit("nothing measured")
    first = rows[0][1]
    lines = [
        "# Supervised training: CPU time, rlx vs PyTorch eager",
        "",
        f"`scripts/bench supervised-cpu-time` (= `benchmarks/supervised_cpu_time.py`), {facts.machine()}, each task "
        f"measured on the date shown. PyTorch {first['torch']} with {first['threads']} intra-op thread; rlx on the "
        "same LibTorch with one thread too. The CPU time (user + system) of training on the extra examples between "
        "one epoch on `small` and one on `large` training examples (seq2seq: generated; Fashion-MNIST: the first "
        "images of the training set), same preset, batch, optimizer, augmentation and clipping on both sides "
        "(benchmarks/peers/supervised_torch.py); rounds interleaved, medians over the rounds. Wall-clock epochs "
        "with two threads are in supervised_speed.md.",
        "",
        "| task | small / large examples | rlx CPU s | PyTorch CPU s | PyTorch / rlx | rounds (rlx / PyTorch) | measured |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    lines += table_rows(rows)
    notes = {}  # a note (the conditions of a run) -> the tasks it covers
    for task, r in rows:
        if r.get("note"):
            notes.setdefault(r["note"], []).append(task)
    if notes:
        lines += ["", "Conditions:", ""] + [f"- {', '.join(tasks)}: {note}" for note, tasks in notes.items()]
    with open(args.out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
