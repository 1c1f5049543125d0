"""`scripts/bench supervised-speed`: training time per epoch of each supervised task, rlx against the same model in
PyTorch eager (benchmarks/peers/supervised_torch.py: same data, split, batch, optimizer, schedule, augmentation),
alternating the two in each round (this machine's speed drifts), medians over rounds; writes OUT.md.

rlx's epoch time is its `charts/epoch_seconds` (the training pass only, as PyTorch's is); both train EPOCHS epochs
from scratch per round and the held-out metric after them is shown beside the times.

A task gets up to ROUNDS rounds but no new one once its rounds have taken BUDGET seconds (the ResNet's and the
LSTM's epochs take minutes here, the MLP's seconds).

Each task's measurement is kept in OUT.json (beside OUT.md) with its date; a run measures the tasks it is given and
the report shows every task measured so far, so one task can be measured again alone.

On a GPU (`--device cuda`, e.g. results/supervised_speed_cuda.md) the first `--warmup` epochs of each run are left
out of the times (CUDA's lazy kernel loading and cuDNN's set-up land in them), so run `--epochs` above it.

usage: python supervised_speed.py RLX_BINARY OUT.md [--tasks T ...] [--epochs N] [--rounds N] [--budget S]
                                  [--device cpu|cuda] [--warmup N]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

import facts  # benchmarks/facts.py
from side_by_side import alternate, kept_records, write_records  # benchmarks/side_by_side.py

HERE = os.path.dirname(os.path.abspath(__file__))
METRIC = {"char-lstm": "val_loss"}
TASKS = ["mnist-mlp", "mnist-lenet", "fashion-lenet", "fashion-resnet", "char-lstm", "seq2seq-addition", "seq2seq-dates"]


def rlx_run(rlx, task, epochs, device):
    with tempfile.TemporaryDirectory() as tmp:
        run = os.path.join(tmp, "run")
        subprocess.run([rlx, "supervised", task, "--seed", "0", "--device", device, "--run-dir", run, "--quiet",
                        "--set", f"epochs={epochs}", "--set", "sample_chars=0" if task == "char-lstm" else "log_interval=50"],
                       check=True, stdout=subprocess.DEVNULL)  # errors reach our stderr
        rows = [line.split(",") for line in open(os.path.join(run, "progress.csv")).read().splitlines()[1:]]
        seconds = [float(r[2]) for r in rows if r[1] == "charts/epoch_seconds"]
        summary = json.load(open(os.path.join(run, "summary.json")))
        return seconds, summary[METRIC.get(task, "val_accuracy")]


def torch_run(task, epochs, device):
    out = subprocess.run([sys.executable, os.path.join(HERE, "peers", "supervised_torch.py"), task, str(epochs), device],
                         check=True, stdout=subprocess.PIPE, text=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return result["seconds_per_epoch"], result[METRIC.get(task, "val_accuracy")], result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("rlx")
    parser.add_argument("out")
    parser.add_argument("--tasks", nargs="+", default=TASKS, choices=TASKS)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--budget", type=float, default=300.0)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--warmup", type=int, default=0, help="epochs left out at the start of each run")
    args = parser.parse_args()
    if not 0 <= args.warmup < args.epochs:
        parser.error("--warmup must be below --epochs")
    kept_path, kept = kept_records(args.out)
    for task in args.tasks:
        ours, theirs = alternate(task, args.rounds, lambda: rlx_run(args.rlx, task, args.epochs, args.device),
                                 lambda: torch_run(task, args.epochs, args.device), args.budget)
        if not ours:
            continue
        # Each round: (epoch seconds, metric after them) from rlx, (the same, versions) from PyTorch.
        (_, our_metric), (_, their_metric, versions) = ours[-1], theirs[-1]
        kept[task] = {"rlx_s": statistics.median(s for seconds, _ in ours for s in seconds[args.warmup:]),
                      "torch_s": statistics.median(s for seconds, _, _ in theirs for s in seconds[args.warmup:]),
                      "rlx_metric": our_metric, "torch_metric": their_metric, "rounds": len(theirs),
                      "epochs": args.epochs, "warmup": args.warmup, "device": args.device, "budget_s": args.budget,
                      "max_rounds": args.rounds, "date": facts.now(), "torch": versions.get("torch", "?"),
                      "threads": versions.get("threads", "?"), "machine": facts.machine(args.device)}
        write_records(kept_path, kept)
    report(kept, args.out)


def report(kept, out):
    if not kept:
        sys.exit("nothing measured")
    first = next(iter(kept.values()))
    versions = {"torch": first["torch"], "threads": first["threads"]}
    device = first.get("device", "cpu")
    on = "CPU only" if device == "cpu" else "on the GPU (`--device cuda` on both sides: the PyTorch peer keeps the data on the GPU)"
    warmup = first.get("warmup", 0)
    flags = f" --device {device} --warmup {warmup}" if device != "cpu" else ""
    left_out = f"; the first {warmup} epoch(s) of each run are left out of the times (set-up)" if warmup else ""
    lines = [
        "# Supervised tasks: rlx vs PyTorch eager, seconds per training epoch" + ("" if device == "cpu" else " on a GPU"),
        "",
        f"`benchmarks/supervised_speed.py --epochs {first['epochs']} --rounds {first['max_rounds']} "
        f"--budget {first['budget_s']:.0f}{flags}`"
        f"{' (= `scripts/bench supervised-speed`)' if device == 'cpu' else ''}, {first.get('machine', facts.machine())}, {on}, each task measured "
        f"on the date shown. PyTorch {versions.get('torch', '?')} with {versions.get('threads', '?')} threads; rlx on the "
        f"same LibTorch. Each round trains {first['epochs']} epoch(s) from scratch with the task's preset, rlx then "
        f"PyTorch; medians of the epoch times over the rounds run (a task starts no new round after "
        f"{first['budget_s']:.0f} s){left_out}. The metric is after those epochs (a short run, not the preset's result).",
        "",
        "| task | rounds | rlx s / epoch | PyTorch s / epoch | rlx speed vs PyTorch | rlx metric | PyTorch metric | measured |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for task in [t for t in TASKS if t in kept]:
        k = kept[task]
        ours, theirs, our_metric, their_metric = k["rlx_s"], k["torch_s"], k["rlx_metric"], k["torch_metric"]
        shown = (lambda v: f"{v:.3f} nats") if task == "char-lstm" else (lambda v: f"{100 * v:.2f}%")
        mark = " (note)" if k.get("note") else ""
        lines.append(f"| {task}{mark} | {k['rounds']} | {ours:.2f} | {theirs:.2f} | **{theirs / ours:.2f}x** | {shown(our_metric)} | "
                     f"{shown(their_metric)} | {k['date']} |")
    notes = [f"- {t}: {kept[t]['note']}" for t in TASKS if kept.get(t, {}).get("note")]
    if notes:
        lines += ["", "Notes:", ""] + notes
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
