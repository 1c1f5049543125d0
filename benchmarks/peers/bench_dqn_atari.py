"""`scripts/bench dqn-atari`: DQN throughput on Atari, rlx and SB3 side by side in one run on this machine.

Both train `<Game>NoFrameskip-v4` with rl-zoo3's Atari DQN values (buffer 100k, Adam 1e-4, batch 32, train every 4
steps, one gradient step, target every 1000 steps) for STEPS agent steps past a short LEARNING_STARTS, one env, the
same replay ratio. rlx runs in three modes: SB3's single-threaded loop, with the envs on an actor thread
(`actor_thread=true`), and that plus bf16 mixed precision for the learner's NatureCNN (`precision=bf16`). Runs
alternate (this VM's speed drifts): in each round every rlx mode, then SB3; the table shows medians of the agent
steps/s and gradient steps/s in the learning phase, the ratio to SB3 within each round, and replay bytes per
transition.

usage: python bench_dqn_atari.py RLX_BINARY OUT.md [--game Pong] [--steps 12000] [--learning-starts 2000] [--rounds 2]
"""
import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile

here = os.path.dirname(os.path.abspath(__file__))
parser = argparse.ArgumentParser()
parser.add_argument("rlx")
parser.add_argument("out")
parser.add_argument("--game", default="Pong")
parser.add_argument("--steps", type=int, default=12000)
parser.add_argument("--learning-starts", type=int, default=2000)
parser.add_argument("--rounds", type=int, default=2)
args = parser.parse_args()


MODES = {
    "SB3's loop": [],
    "actor thread": ["actor_thread=true"],
    "actor thread + bf16": ["actor_thread=true", "precision=bf16"],
}


def rlx_run(seed, sets):
    with tempfile.TemporaryDirectory() as tmp:
        run = os.path.join(tmp, "run")
        cmd = [args.rlx, "train", "dqn", "--env", f"{args.game}NoFrameskip-v4", "--seed", str(seed), "--device", "cpu",
               "--run-dir", run, "--set", f"total_timesteps={args.steps}", "--set",
               f"learning_starts={args.learning_starts}", "--set", "checkpoint_interval=0", "--set", "save_replay=false"]
        for item in sets:
            cmd += ["--set", item]
        subprocess.run(cmd, check=True, capture_output=True)
        rows = [line.split(",") for line in open(os.path.join(run, "progress.csv")).read().splitlines()[1:]]
        summary = json.load(open(os.path.join(run, "summary.json")))
        learning = [(int(r[0]), float(r[3])) for r in rows if r[1] == "losses/td_loss"]
        (s0, t0), (s1, t1) = learning[0], learning[-1]
        return {"sps": summary["sps"], "learning_sps": (s1 - s0) / (t1 - t0), "gradient_steps_per_s": (s1 - s0) / 4 / (t1 - t0)}


def sb3_run(seed):
    out = subprocess.run([sys.executable, os.path.join(here, "dqn_sb3.py"), args.game, str(args.steps),
                          str(args.learning_starts), str(seed)], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


ours, theirs = {mode: [] for mode in MODES}, []
for round_ in range(args.rounds):
    for mode, sets in MODES.items():
        ours[mode].append(rlx_run(round_, sets))
        print("rlx", mode, ours[mode][-1], file=sys.stderr)
    theirs.append(sb3_run(round_))
    print("sb3", theirs[-1], file=sys.stderr)

med = lambda runs, key: statistics.median(r[key] for r in runs)
ratio = lambda mode, key: statistics.median(a[key] / b[key] for a, b in zip(ours[mode], theirs))
rlx_bytes = 84 * 84 + 9
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
flags = next((l.split(":", 1)[1].split() for l in open("/proc/cpuinfo") if l.startswith("flags")), [])
bf16 = ", ".join(f for f in flags if f in ("avx512_bf16", "amx_bf16")) or "no native bf16 (emulated: slow)"
lines = [
    f"# DQN on Atari: rlx vs Stable-Baselines3 {theirs[0]['sb3']} (throughput)",
    "",
    f"Command: `scripts/bench dqn-atari` (= `bench_dqn_atari.py --game {args.game} --steps {args.steps} "
    f"--learning-starts {args.learning_starts} --rounds {args.rounds}`), run {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC.",
    f"Machine: {cpu} ({bf16}), {os.cpu_count()} cores, CPU only. Both: `{args.game}NoFrameskip-v4`, one env, rl-zoo3's Atari DQN "
    "values (buffer 100k, Adam 1e-4, batch 32, one gradient step every 4 agent steps, target every 1000), "
    f"{args.steps} agent steps of which the first {args.learning_starts} random. rlx runs its release binary with "
    f"LibTorch's default threads; SB3 with PyTorch's ({theirs[0]['threads']}). Runs alternate; medians of {args.rounds}.",
    "",
    "| | agent steps/s while learning | gradient steps/s (batch 32) | agent steps/s, whole run | vs SB3 (learning) |",
    "|---|---:|---:|---:|---:|",
    *[f"| rlx, {mode} | {med(runs, 'learning_sps'):.0f} | {med(runs, 'gradient_steps_per_s'):.1f} | "
      f"{med(runs, 'sps'):.0f} | {ratio(mode, 'learning_sps'):.2f}x |" for mode, runs in ours.items()],
    f"| SB3 {theirs[0]['sb3']} | {med(theirs, 'learning_sps'):.0f} | {med(theirs, 'gradient_steps_per_s'):.1f} | "
    f"{med(theirs, 'sps'):.0f} | 1x |",
    "",
    "| replay bytes per transition | rlx | SB3 | SB3 with `optimize_memory_usage` |",
    "|---|---:|---:|---:|",
    f"| bytes | {rlx_bytes} | {theirs[0]['bytes_per_transition']:.0f} | {theirs[0]['bytes_per_transition_optimized']:.0f} |",
    f"| rlx / SB3 | 1x | {rlx_bytes / theirs[0]['bytes_per_transition']:.3f}x | "
    f"{rlx_bytes / theirs[0]['bytes_per_transition_optimized']:.3f}x |",
    "",
    "rlx: one frame per transition plus 9 bytes (action, reward, flags), and one extra frame per episode for its final "
    "observation. SB3: observation and next observation stacks (4x84x84 each), or one stack with "
    "`optimize_memory_usage` (which cannot handle timeouts).",
]
open(args.out, "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
