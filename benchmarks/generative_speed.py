"""`scripts/bench generative-speed`: seconds per training epoch of each generative model, rlx against the same model
in PyTorch eager (benchmarks/peers/generative_torch.py: same network, batch, optimizer and update), over the first
N Fashion-MNIST training images (a folder of IDX files cut from the fetched set, so rlx reads the same images).
Rounds alternate rlx then PyTorch; the medians are reported in results/generative_speed.md.

usage: python generative_speed.py RLX_BINARY OUT.md [--models [vae dcgan ddpm]] [--rounds R]   (`--models` alone: the report from the kept records)
"""
import argparse
import csv
import gzip
import json
import os
import statistics
import subprocess
import sys
import tempfile

import facts  # benchmarks/facts.py

HERE = os.path.dirname(os.path.abspath(__file__))
# Images per epoch by default: the VAE's whole set takes seconds, the others' a share of it.
IMAGES = {"vae": 60000, "dcgan": 12800, "ddpm": 2560}


def cut_fashion(folder, n):
    """The first n training images and labels (and 1,000 test ones) as plain IDX files in `folder`."""
    data = os.environ.get("RLX_DATA") or os.path.join(os.environ.get("RLX_CACHE", os.path.expanduser("~/.cache/rlx")), "data")
    for name, count in [("train-images-idx3-ubyte", n), ("train-labels-idx1-ubyte", n), ("t10k-images-idx3-ubyte", 1000),
                        ("t10k-labels-idx1-ubyte", 1000)]:
        raw = gzip.open(os.path.join(data, "fashion-mnist", name + ".gz")).read()
        dims = raw[3]
        item = 784 if dims == 3 else 1
        header = raw[:4] + count.to_bytes(4, "big") + raw[8:4 + 4 * dims]
        with open(os.path.join(folder, name), "wb") as f:
            f.write(header + raw[4 + 4 * dims:4 + 4 * dims + count * item])


def rlx_epoch(rlx, model, folder, run):
    subprocess.run([rlx, "generative", f"fashion-{model}", "--run-dir", run, "--device", "cpu", "--quiet", "--set",
                    f"data={folder}", "--set", "epochs=1", "--set", "fid_samples=0", "--set", "grid_size=1"],
                   check=True, capture_output=True)
    rows = list(csv.reader(open(os.path.join(run, "progress.csv"))))
    return float(next(r[2] for r in rows if r[1] == "charts/epoch_seconds")), float(
        next(r[2] for r in rows if r[1] == "train/epoch_loss"))


def torch_epoch(model, n):
    out = subprocess.run([sys.executable, os.path.join(HERE, "peers", "generative_torch.py"), model, str(n)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("rlx")
    parser.add_argument("out")
    parser.add_argument("--models", nargs="*", default=["vae", "dcgan", "ddpm"], choices=["vae", "dcgan", "ddpm"])
    parser.add_argument("--rounds", type=int, default=2)
    # The kept records of earlier runs (results/generative_speed.json) keep the models not measured this time.
    args = parser.parse_args()
    kept_path = os.path.splitext(args.out)[0] + ".json"
    kept = json.load(open(kept_path)) if os.path.exists(kept_path) else {}
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models:
            n = IMAGES[model]
            folder = os.path.join(tmp, f"fashion-{n}")
            if not os.path.isdir(folder):
                os.makedirs(folder)
                cut_fashion(folder, n)
            ours, theirs, our_loss, their = [], [], None, None
            for round_ in range(args.rounds):
                print(f"== {model} round {round_ + 1}: rlx", file=sys.stderr)
                seconds, our_loss = rlx_epoch(args.rlx, model, folder, os.path.join(tmp, f"{model}-{round_}"))
                ours.append(seconds)
                print(f"== {model} round {round_ + 1}: PyTorch", file=sys.stderr)
                their = torch_epoch(model, n)
                theirs.append(their["seconds_per_epoch"])
            kept[model] = {"model": model, "images": n, "rlx_s": statistics.median(ours),
                           "torch_s": statistics.median(theirs), "rlx_loss": our_loss, "torch_loss": their["loss"],
                           "rounds": args.rounds, "torch": their["torch"], "threads": their["threads"],
                           "date": facts.now()}
            with open(kept_path, "w") as f:
                json.dump(kept, f, indent=1)
                f.write("\n")
    rows = [kept[m] for m in ["vae", "dcgan", "ddpm"] if m in kept]
    lines = [
        "# Generative models: rlx vs PyTorch eager, seconds per training epoch",
        "",
        f"`scripts/bench generative-speed` (= `benchmarks/generative_speed.py`), {facts.machine()}, CPU only, each "
        "model measured on the date shown (rounds: its column). "
        f"PyTorch {rows[0]['torch']} with {rows[0]['threads']} threads, rlx on the same LibTorch. Each round trains "
        "one epoch of the preset's network over the first N Fashion-MNIST training images, rlx then PyTorch "
        "(benchmarks/peers/generative_torch.py: the same network, batch, optimizer and update); medians over the "
        "rounds. The loss is the epoch's mean training loss (VAE: negative ELBO, nats; DCGAN: the generator's; DDPM: "
        "noise MSE) from different random draws on each side.",
        "",
        "| model | images / epoch | rounds | rlx s / epoch | PyTorch s / epoch | rlx speed vs PyTorch | rlx loss | PyTorch loss | measured |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(f"| {r['model']} | {r['images']} | {r['rounds']} | {r['rlx_s']:.2f} | {r['torch_s']:.2f} | "
                     f"**{r['torch_s'] / r['rlx_s']:.2f}x** | {r['rlx_loss']:.4f} | {r['torch_loss']:.4f} | {r['date']} |")
    with open(args.out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
