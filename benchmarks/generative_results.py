"""`scripts/bench generative`: trains the generative models with their presets (seed 0) unless their run folders
already hold finished runs, evaluates each (`rlx generative eval`: the VAE's ELBO and NLL, the Fréchet distance
beside its floor and pixel noise), copies the last sample grid (and the VAE's interpolation grid) into results/,
and writes results/generative.md. The metric's classifier (`rlx supervised fashion-lenet`, or `mnist-lenet`) is
trained first into RUNS_DIR/<dataset>-classifier when it is missing.

What the report shows of each finished task is kept as JSON in results/generative_runs/<task>.json, committed with
the grids, so the report is rebuilt from a fresh clone without training again: a task with a kept record and no
run folder is reported from its record. A record's optional "note" (how the run went, written by hand) is printed
under its heading. `--tasks` names the tasks to train; `--set KEY=VALUE` is passed to every
training run (a shortened run says so in its row).

usage: python generative_results.py RLX_BINARY RUNS_DIR OUT.md [--tasks T ...] [--set KEY=VALUE ...]
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys

import facts  # benchmarks/facts.py

TASKS = ["fashion-vae", "fashion-dcgan", "fashion-ddpm", "mnist-vae", "mnist-dcgan", "mnist-ddpm"]
CLASSIFIER = {"fashion": "fashion-lenet", "mnist": "mnist-lenet"}


def classifier(args, dataset):
    """The classifier run the metric needs, trained when missing."""
    run = os.path.join(args.runs, f"{dataset}-classifier")
    if not os.path.exists(os.path.join(run, "summary.json")):
        shutil.rmtree(run, ignore_errors=True)
        subprocess.run([args.rlx, "supervised", CLASSIFIER[dataset], "--seed", "0", "--device", "cpu", "--run-dir",
                        run, "--quiet"], check=True)
    return run, json.load(open(os.path.join(run, "summary.json")))


def number(text, key):
    match = re.search(rf"^{key} (-?[0-9.]+)", text, re.M)
    return float(match.group(1)) if match else None


def finish(args, task, results_dir):
    """Trains (or resumes) `task` unless its run is finished, evaluates it and copies its grids: its record."""
    dataset = task.split("-")[0]
    classifier_run, classifier_summary = classifier(args, dataset)
    run = os.path.join(args.runs, task)
    sets = [f"classifier={classifier_run}"] + args.set
    command = [args.rlx, "generative", task, "--seed", "0", "--device", "cpu", "--run-dir", run, "--quiet"]
    for s in sets:
        command += ["--set", s]
    if not os.path.exists(os.path.join(run, "summary.json")):
        if os.path.exists(os.path.join(run, "checkpoint.safetensors")):
            subprocess.run([args.rlx, "generative", "--resume", run, "--quiet"], check=True)
        else:
            subprocess.run(command, check=True)
    summary = json.load(open(os.path.join(run, "summary.json")))
    evaluation = subprocess.run([args.rlx, "generative", "eval", run], check=True, capture_output=True,
                                text=True).stdout
    grids = sorted(os.listdir(os.path.join(run, "samples")))
    pictures = {"samples": f"generative_{task}.png"}
    shutil.copy(os.path.join(run, "samples", grids[-1]), os.path.join(results_dir, pictures["samples"]))
    if os.path.exists(os.path.join(run, "interpolation.png")):
        pictures["interpolation"] = f"generative_{task}_interpolation.png"
        shutil.copy(os.path.join(run, "interpolation.png"), os.path.join(results_dir, pictures["interpolation"]))
    shown = [c.replace(args.runs, "RUNS") for c in command]
    return {
        "task": task,
        "epochs": summary["epochs"],
        "wall_time_s": summary["wall_time_s"],
        "seconds_per_epoch": summary["seconds_per_epoch"],
        "fid": number(evaluation, "fid"),
        "fid_floor": number(evaluation, "fid_floor"),
        "fid_noise": number(evaluation, "fid_noise"),
        "test_elbo": number(evaluation, "test_elbo"),
        "test_nll": number(evaluation, "test_nll"),
        "classifier_accuracy": classifier_summary.get("val_accuracy"),
        "evaluation": evaluation.strip().splitlines(),
        "command": "rlx " + " ".join(shown[1:]),
        "pictures": pictures,
        "date": facts.now(),
        "machine": facts.machine(),
    }


def vae_reference(task, seeds=(0, 1)):
    """The held-out ELBO of PyTorch's examples VAE trained on the same data, split, batch, optimizer and epochs
    (benchmarks/peers/vae_elbo_torch.py), one per seed: the published reference for the VAE presets."""
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "peers", "vae_elbo_torch.py")
    runs = [subprocess.run([sys.executable, script, task, "--seed", str(s)], check=True, capture_output=True,
                           text=True).stdout.strip().splitlines()[-1] for s in seeds]
    return [json.loads(r)["test_elbo"] for r in runs]


def report(records, out):
    lines = [
        "# Generative models: Fréchet distance, likelihood and samples",
        "",
        "`scripts/bench generative` (= `benchmarks/generative_results.py`), seed 0, CPU. The Fréchet distance is "
        "measured on the penultimate features (84 wide) of rlx's own LeNet-5 classifier of the same dataset "
        "(`rlx supervised fashion-lenet` / `mnist-lenet`, its test accuracy shown), from 10,000 generated images "
        "against the held-out set; `floor` is real training images against the same held-out set (what a perfect "
        "model reaches) and `noise` uniform pixel noise. Numbers compare only within one classifier: they are not "
        "Inception FIDs. `PyTorch VAE ELBO` is the published reference for the VAE rows: the held-out ELBO of "
        "PyTorch's examples/vae (the same 784-400-20 network) trained in PyTorch eager on the same data, split, "
        "batch, optimizer and epochs (benchmarks/peers/vae_elbo_torch.py, seeds 0 and 1).",
        "",
        "| task | epochs | time | s / epoch | FID | floor (real) | noise | test ELBO (nats) | PyTorch VAE ELBO | test NLL, k=100 | classifier accuracy | measured |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    fmt = lambda v, spec: "-" if v is None else format(v, spec)
    for task in TASKS:
        r = records.get(task)
        if r is None:
            continue
        reference = ", ".join(f"{e:.1f}" for e in r.get("reference_elbo", [])) or "-"
        lines.append(
            f"| {task} | {r['epochs']} | {r['wall_time_s'] / 60:.1f} min | {r['seconds_per_epoch']:.0f} | "
            f"**{fmt(r['fid'], '.2f')}** | {fmt(r['fid_floor'], '.2f')} | {fmt(r['fid_noise'], '.1f')} | "
            f"{fmt(r['test_elbo'], '.1f')} | {reference} | {fmt(r['test_nll'], '.1f')} | "
            f"{fmt(r['classifier_accuracy'] and 100 * r['classifier_accuracy'], '.2f')}% | {r['date']} |")
    lines += ["", "Commands (RUNS = the runs folder):", ""]
    for task in TASKS:
        if task in records:
            lines.append(f"- `{records[task]['command']}`")
    for task in TASKS:
        r = records.get(task)
        if r is None:
            continue
        lines += ["", f"## {task}", ""] + ([r["note"], ""] if r.get("note") else [])
        lines += ["```", *r["evaluation"], "```", "", f"![{task} samples]({r['pictures']['samples']})"]
        if "interpolation" in r["pictures"]:
            lines += ["", f"Latent interpolation between held-out images (real images at both ends):", "",
                      f"![{task} interpolation]({r['pictures']['interpolation']})"]
    first = next(iter(records.values()))
    lines += ["", f"Machine: {first['machine']}."]
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("rlx")
    parser.add_argument("runs")
    parser.add_argument("out")
    parser.add_argument("--tasks", nargs="+", default=[], choices=TASKS)
    parser.add_argument("--set", action="append", default=[])
    args = parser.parse_args()
    args.runs = os.path.abspath(args.runs)
    results_dir = os.path.dirname(os.path.abspath(args.out))
    kept_dir = os.path.join(results_dir, "generative_runs")
    os.makedirs(kept_dir, exist_ok=True)
    records = {}
    for task in TASKS:
        path = os.path.join(kept_dir, f"{task}.json")
        if task in args.tasks:
            records[task] = finish(args, task, results_dir)
            with open(path, "w") as f:
                json.dump(records[task], f, indent=1)
                f.write("\n")
        elif os.path.exists(path):
            records[task] = json.load(open(path))
        else:
            continue
        if task.endswith("-vae") and "reference_elbo" not in records[task]:
            records[task]["reference_elbo"] = vae_reference(task)
            with open(path, "w") as f:
                json.dump(records[task], f, indent=1)
                f.write("\n")
    if records:
        report(records, args.out)


if __name__ == "__main__":
    main()
