"""`scripts/bench generative-speed`: seconds per training epoch of each generative model, rlx against the same model
in PyTorch eager (benchmarks/peers/generative_torch.py: same network, batch, optimizer and update), over the first
N Fashion-MNIST training images (a folder of IDX files cut from the fetched set, so rlx reads the same images).
Rounds alternate rlx then PyTorch; the medians are reported in results/generative_speed.md.

On a GPU (`--device cuda --epochs 2`, results/generative_speed_cuda.md) each side trains two epochs and the second
is timed: the first holds CUDA's lazy kernel loading and cuDNN's set-up.

usage: python generative_speed.py RLX_BINARY OUT.md [--models [vae dcgan ddpm]] [--rounds R] [--device cpu|cuda]
                                  [--epochs N] [--images N]   (`--models` alone: the report from the kept records)
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
from side_by_side import alternate, kept_records, write_records  # benchmarks/side_by_side.py

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


def rlx_epoch(rlx, model, folder, run, device, epochs):
    """The last epoch's seconds and mean training loss."""
    subprocess.run([rlx, "generative", f"fashion-{model}", "--run-dir", run, "--device", device, "--quiet", "--set",
                    f"data={folder}", "--set", f"epochs={epochs}", "--set", "fid_samples=0", "--set", "grid_size=1"],
                   check=True, stdout=subprocess.DEVNULL)  # errors reach our stderr
    rows = list(csv.reader(open(os.path.join(run, "progress.csv"))))
    return float([r[2] for r in rows if r[1] == "charts/epoch_seconds"][-1]), float(
        [r[2] for r in rows if r[1] == "train/epoch_loss"][-1])


def torch_epoch(model, n, device, epochs):
    out = subprocess.run([sys.executable, os.path.join(HERE, "peers", "generative_torch.py"), model, str(n), device,
                          str(epochs)], check=True, stdout=subprocess.PIPE, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("rlx")
    parser.add_argument("out")
    parser.add_argument("--models", nargs="*", default=["vae", "dcgan", "ddpm"], choices=["vae", "dcgan", "ddpm"])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--epochs", type=int, default=1, help="epochs per run; the last one is timed")
    parser.add_argument("--images", type=int, help="images per epoch for every model (default: IMAGES)")
    # The kept records of earlier runs (results/generative_speed.json) keep the models not measured this time.
    args = parser.parse_args()
    kept_path, kept = kept_records(args.out)
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models:
            n = args.images or IMAGES[model]
            folder = os.path.join(tmp, f"fashion-{n}")
            if not os.path.isdir(folder):
                os.makedirs(folder)
                cut_fashion(folder, n)
            runs = iter(range(args.rounds))
            ours, theirs = alternate(
                model, args.rounds,
                lambda: rlx_epoch(args.rlx, model, folder, os.path.join(tmp, f"{model}-{next(runs)}"), args.device,
                                  args.epochs),
                lambda: torch_epoch(model, n, args.device, args.epochs))
            if not ours:
                continue
            # Each round: (seconds, loss) of rlx's timed epoch; PyTorch's record (seconds_per_epoch, loss, versions).
            their = theirs[-1]
            kept[model] = {"model": model, "images": n, "rlx_s": statistics.median(s for s, _ in ours),
                           "torch_s": statistics.median(t["seconds_per_epoch"] for t in theirs),
                           "rlx_loss": ours[-1][1], "torch_loss": their["loss"], "rounds": len(theirs),
                           "torch": their["torch"], "threads": their["threads"], "device": args.device,
                           "epochs": args.epochs, "machine": facts.machine(args.device), "date": facts.now()}
            write_records(kept_path, kept)
    rows = [kept[m] for m in ["vae", "dcgan", "ddpm"] if m in kept]
    if not rows:
        sys.exit("nothing measured")
    device, epochs = rows[0].get("device", "cpu"), rows[0].get("epochs", 1)
    command = "`scripts/bench generative-speed` (= `benchmarks/generative_speed.py`)" if device == "cpu" else \
        f"`benchmarks/generative_speed.py --device {device} --epochs {epochs} --images {rows[0]['images']} --rounds {rows[0]['rounds']}`"
    on = "CPU only" if device == "cpu" else "on the GPU (`--device cuda` on both sides; the PyTorch peer keeps the images on the GPU)"
    timed = "one epoch" if epochs == 1 else f"{epochs} epochs (the last one timed: the first holds CUDA's set-up)"
    lines = [
        "# Generative models: rlx vs PyTorch eager, seconds per training epoch" + ("" if device == "cpu" else " on a GPU"),
        "",
        f"{command}, {rows[0].get('machine', facts.machine())}, {on}, each "
        "model measured on the date shown (rounds: its column). "
        f"PyTorch {rows[0]['torch']} with {rows[0]['threads']} threads, rlx on the same LibTorch. Each round trains "
        f"{timed} of the preset's network over the first N Fashion-MNIST training images, rlx then PyTorch "
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
