"""EnvPool, ale-py + Gymnasium's AtariPreprocessing, and raw ALE throughput, for bench_envs_atari (which runs this).

Prints one JSON line: {"versions": {...}, "results": [{"peer", "mode", "game", "num_envs", "threads",
"steps_per_s", "frames_per_s"}, ...]}; agent steps skip 4 frames. Random actions from a pre-drawn table.
usage: python envs_atari.py SECONDS GAME [GAME ...]
"""
import json
import re
import sys
import time
import warnings

import ale_py
import gymnasium as gym
import numpy as np
from gymnasium.wrappers import AtariPreprocessing, FrameStackObservation

warnings.filterwarnings("ignore")
gym.register_envs(ale_py)
try:
    import envpool
except ImportError:
    envpool = None


def timed(step, seconds):
    n, start = 0, time.perf_counter()
    while True:
        for _ in range(64):
            step(n)
            n += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return n / elapsed


def envpool_rate(game, num_envs, threads, seconds):
    env = envpool.make(f"{game}-v5", env_type="gymnasium", num_envs=num_envs, batch_size=num_envs, num_threads=threads, seed=0)
    env.reset()
    table = np.random.default_rng(0).integers(env.action_space.n, size=(1024, num_envs))
    for i in range(20):  # warm-up: first resets, no-ops
        env.step(table[i])
    return timed(lambda i: env.step(table[i & 1023]), seconds) * num_envs


def ale_py_rate(game, seconds):
    env = FrameStackObservation(AtariPreprocessing(gym.make(f"{game}NoFrameskip-v4"), noop_max=30, frame_skip=4, screen_size=84), 4)
    env.reset(seed=0)
    table = np.random.default_rng(0).integers(env.action_space.n, size=1024)

    def step(i):
        _, _, term, trunc, _ = env.step(int(table[i & 1023]))
        if term or trunc:
            env.reset()

    return timed(step, seconds)


def raw_ale_frames(game, seconds):
    """The emulation ceiling: ALEInterface.act only, one frame per call, one core."""
    ale = ale_py.ALEInterface()
    ale.setInt("random_seed", 1)
    ale.setFloat("repeat_action_probability", 0.0)
    ale.loadROM(ale_py.roms.get_rom_path(re.sub(r"(?<!^)(?=[A-Z])", "_", game).lower()))
    actions = ale.getMinimalActionSet()
    table = np.random.default_rng(0).integers(len(actions), size=1024)

    def step(i):
        ale.act(actions[table[i & 1023]])
        if ale.game_over():
            ale.reset_game()

    return timed(step, seconds)


def main():
    seconds, games = float(sys.argv[1]), sys.argv[2:]
    results = []

    def record(peer, mode, game, num_envs, threads, steps_per_s, frames_per_step=4):
        results.append({"peer": peer, "mode": mode, "game": game, "num_envs": num_envs, "threads": threads,
                        "steps_per_s": steps_per_s, "frames_per_s": steps_per_s * frames_per_step})
        print(f"{peer:8s} {mode:10s} {game:10s} n={num_envs:2d} t={threads} {steps_per_s:9.0f} steps/s", file=sys.stderr)

    for game in games:
        record("ale-py", "raw act", game, 1, 1, raw_ale_frames(game, seconds), frames_per_step=1)
        record("ale-py", "gymnasium", game, 1, 1, ale_py_rate(game, seconds))
        if envpool is not None:
            for n in (1, 8, 32):
                for t in (1, 2):
                    record("envpool", "pool", game, n, t, envpool_rate(game, n, t, seconds))
    versions = {"ale_py": ale_py.__version__, "gymnasium": gym.__version__, "envpool": envpool.__version__ if envpool else None}
    print(json.dumps({"versions": versions, "results": results}))


if __name__ == "__main__":
    main()
