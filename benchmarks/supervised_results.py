"""`scripts/bench supervised`: trains every supervised task with its preset (seed 0) unless its run folder already
holds a finished run, then writes results/supervised.md (held-out metric against the issue's target, wall-clock,
seconds per epoch, the command) and the plots: a training curve per task and Fashion-MNIST confusion matrices.
A stopped run resumes from its last epoch's checkpoint when this is run again.

What the report shows of each finished task (its summary, command and translations) is kept as JSON in
results/supervised_runs/<task>.json, committed with the plots, so the report is rebuilt from a fresh clone without
training every task again (the ResNet takes over an hour here): a task with a kept record and no run folder is
reported from its record; delete the record to train that task again. `--tasks` names the tasks to train (all by
default); the others are reported from their records.

usage: python supervised_results.py RLX_BINARY PLOT_BINARY RUNS_DIR OUT.md [--tasks T ...]
"""
import argparse
import json
import os
import subprocess

import facts  # benchmarks/facts.py

# task -> (metric in summary.json, target, "at least" or "at most", what it is)
TARGETS = {
    "mnist-mlp": ("val_accuracy", None, ">=", "held-out accuracy, 2,000 MNIST digits"),
    "mnist-lenet": ("val_accuracy", 0.985, ">=", "held-out accuracy, 2,000 MNIST digits"),
    "fashion-lenet": ("val_accuracy", 0.905, ">=", "Fashion-MNIST test accuracy"),
    "fashion-resnet": ("val_accuracy", 0.93, ">=", "Fashion-MNIST test accuracy"),
    "char-lstm": ("val_loss", 1.6, "<=", "held-out nats per character"),
    "seq2seq-addition": ("val_accuracy", 0.99, ">=", "held-out exact-sequence accuracy"),
    "seq2seq-dates": ("val_accuracy", 0.99, ">=", "held-out exact-sequence accuracy"),
}
FASHION = "T-shirt,Trouser,Pullover,Dress,Coat,Sandal,Shirt,Sneaker,Bag,Boot"
# Inputs translated after training, the first one's attention map drawn.
EXAMPLES = {
    "seq2seq-addition": ["535+61", "999+1", "7+805"],
    "seq2seq-dates": ["Thursday, June 25, 2009", "25th of June, 2009", "02.01.11", "MAR 22ND, '12", "3/7/1999"],
}


def finish(args, task, run, results_dir):
    """Trains (or resumes) `task` unless its run is finished, draws its plots and translations: its record."""
    command = [args.rlx, "supervised", task, "--seed", "0", "--device", "cpu", "--run-dir", run, "--quiet"]
    if not os.path.exists(os.path.join(run, "summary.json")):
        if os.path.exists(os.path.join(run, "checkpoint.safetensors")):
            subprocess.run([args.rlx, "supervised", "--resume", run, "--quiet"], check=True)
        else:
            subprocess.run(command, check=True)
    summary = json.load(open(os.path.join(run, "summary.json")))
    curve = os.path.join(results_dir, f"supervised_{task}.png")
    plot = [args.plot, run, curve, "--title", task]
    if task.startswith("fashion"):
        subprocess.run([args.rlx, "supervised", "eval", run], check=True, capture_output=True)
        plot += ["--confusion", os.path.join(results_dir, f"supervised_{task}_confusion.png"), "--labels", FASHION]
    subprocess.run(plot, check=True)
    translations = []
    if task == "char-lstm":
        out = subprocess.run([args.rlx, "supervised", "sample", run, "--prompt", "ROMEO.\n", "--chars", "300"],
                             check=True, capture_output=True, text=True).stdout
        translations = ["(sample, temperature 0.8)"] + out.rstrip().splitlines()
    if task in EXAMPLES:
        picture = os.path.join(results_dir, f"supervised_{task}_attention.png")
        out = subprocess.run([args.rlx, "supervised", "translate", run, *EXAMPLES[task], "--attention", picture],
                             check=True, capture_output=True, text=True).stdout
        translations = [line for line in out.splitlines() if " -> " in line]
    shown = " ".join(["rlx"] + command[1:5] + ["--device", "cpu"])
    finished = facts.now(os.path.getmtime(os.path.join(run, "summary.json")))
    return {"summary": summary, "command": shown, "translations": translations, "finished": finished}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("rlx")
    parser.add_argument("plot")
    parser.add_argument("runs")
    parser.add_argument("out")
    parser.add_argument("--tasks", nargs="+", default=list(TARGETS))
    args = parser.parse_args()
    results_dir = os.path.dirname(os.path.abspath(args.out))
    keep_dir = os.path.join(results_dir, "supervised_runs")
    os.makedirs(keep_dir, exist_ok=True)
    rows = []
    for task in TARGETS:  # every task with a record is reported; only those asked for are trained
        run = os.path.join(args.runs, f"{task}-s0")
        kept = os.path.join(keep_dir, f"{task}.json")
        if task not in args.tasks and not os.path.exists(kept):
            continue
        if os.path.exists(kept) and not os.path.exists(os.path.join(run, "summary.json")):
            record = json.load(open(kept))
            print(f"== {task}: reported from {kept}")
        else:
            record = finish(args, task, run, results_dir)
            with open(kept + ".tmp", "w") as f:
                json.dump(record, f, indent=1)
                f.write("\n")
            os.replace(kept + ".tmp", kept)
        rows.append((task, record["summary"], record["command"], record["translations"], record.get("finished", "?")))

    date = facts.now()
    lines = [
        "# Supervised tasks: held-out results",
        "",
        f"`scripts/bench supervised` (= `benchmarks/supervised_results.py`), report written {date} on "
        f"{facts.machine()}, CPU only. Each task trains with its preset "
        "(presets/supervised/<task>.toml), seed 0; wall-clock is the whole run as it happened on this machine "
        "(other jobs may have shared its 2 cores: speed is measured side by side with PyTorch separately). "
        "Runs finished before 2026-12-04 05:10 UTC started from tch's default initialization; later ones from "
        "PyTorch's, as their peers do (models/src/init.rs).",
        "",
        "| task | metric | result | target | met | epochs | wall-clock | s / epoch | finished | command |",
        "|---|---|---:|---:|---|---:|---:|---:|---|---|",
    ]
    for task, summary, command, _, finished in rows:
        key, target, sense, what = TARGETS[task]
        value = summary[key]
        shown = f"{100 * value:.2f}%" if "accuracy" in key else f"{value:.3f}"
        if target is None:
            goal, met = "-", "-"
        else:
            goal = f"{'>=' if sense == '>=' else '<='} {100 * target:.1f}%" if "accuracy" in key else f"<= {target}"
            met = "yes" if (value >= target if sense == ">=" else value <= target) else "**no**"
        lines.append(
            f"| {task} | {what} | {shown} | {goal} | {met} | {summary['epochs']} | {summary['wall_time_s'] / 60:.1f} min "
            f"| {summary['seconds_per_epoch']:.1f} | {finished} | `{command}` |"
        )
    lines.append("")
    for task, _, _, translations, _ in rows:
        lines.append(f"![{task}](supervised_{task}.png)")
        if task.startswith("fashion"):
            lines.append(f"![{task} confusion matrix](supervised_{task}_confusion.png)")
        if translations and task == "char-lstm":
            lines += ["", f"`rlx supervised sample` on the {task} run {translations[0]}:", ""]
            lines += [f"    {t}" for t in translations[1:]]
            lines.append("")
        elif translations:
            lines += ["", f"`rlx supervised translate` on the {task} run (greedy):", ""]
            lines += [f"    {t}" for t in translations]
            lines += ["", f"![{task} attention map](supervised_{task}_attention.png)", ""]
    with open(args.out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
