"""EnvPool, ale-py + Gymnasium's AtariPreprocessing, and raw ALE throughput, measured on request for
bench_envs_atari, which interleaves these measurements with its own so that both sides see the same machine state.

Protocol (one JSON object per line): prints {"versions": {...}} first, then for each request line
{"peer": "envpool" | "gymnasium" | "raw", "game", "num_envs", "threads", "batch_size", "seconds"} prints
{"steps_per_s": x}; agent steps skip 4 frames, raw steps are single frames. Random actions from a pre-drawn table.
usage: python envs_atari.py   (reads requests on stdin until EOF)
"""
import json
import re
import sys
import warnings

import ale_py
import gymnasium as gym
import numpy as np
from gymnasium.wrappers import AtariPreprocessing, FrameStackObservation
from timing import rate

warnings.filterwarnings("ignore")
gym.register_envs(ale_py)
try:
    import envpool
except ImportError:
    envpool = None


def envpool_rate(game, num_envs, threads, batch_size, seconds):
    """Sync mode (batch_size == num_envs): step all envs; async: recv the first batch_size, send to them."""
    env = envpool.make(f"{game}-v5", env_type="gymnasium", num_envs=num_envs, batch_size=batch_size,
                       num_threads=threads, seed=0)
    table = np.random.default_rng(0).integers(env.action_space.n, size=(1024, num_envs))
    if batch_size == num_envs:
        env.reset()
        for i in range(20):  # warm-up: first resets, no-ops
            env.step(table[i])
        steps_per_s = rate(lambda i: env.step(table[i & 1023]), seconds) * num_envs
    else:
        env.async_reset()

        def step(i):
            info = env.recv()[-1]
            env.send(table[i & 1023][:batch_size], info["env_id"])

        for i in range(20):
            step(i)
        steps_per_s = rate(step, seconds) * batch_size
    env.close()
    return steps_per_s


def ale_py_rate(game, seconds):
    env = FrameStackObservation(AtariPreprocessing(gym.make(f"{game}NoFrameskip-v4"), noop_max=30, frame_skip=4, screen_size=84), 4)
    env.reset(seed=0)
    table = np.random.default_rng(0).integers(env.action_space.n, size=1024)

    def step(i):
        _, _, term, trunc, _ = env.step(int(table[i & 1023]))
        if term or trunc:
            env.reset()

    return rate(step, seconds)


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

    return rate(step, seconds)


def main():
    versions = {"ale_py": ale_py.__version__, "gymnasium": gym.__version__, "envpool": envpool.__version__ if envpool else None}
    print(json.dumps({"versions": versions}), flush=True)
    for line in sys.stdin:
        r = json.loads(line)
        if r["peer"] == "envpool":
            steps_per_s = envpool_rate(r["game"], r["num_envs"], r["threads"], r["batch_size"], r["seconds"]) if envpool else None
        elif r["peer"] == "gymnasium":
            steps_per_s = ale_py_rate(r["game"], r["seconds"])
        else:
            steps_per_s = raw_ale_frames(r["game"], r["seconds"])
        print(json.dumps({"steps_per_s": steps_per_s}), flush=True)


if __name__ == "__main__":
    main()
