"""Gymnasium and EnvPool throughput with random actions, for bench_envs_classic (which runs this script).

Prints one JSON object: {"versions": {...}, "results": [{"peer", "mode", "env", "num_envs", "threads",
"steps_per_s"}, ...]} where steps_per_s counts env steps (num_envs per batch step), median of `repeats` runs.
Actions come from a table pre-drawn outside the timed loop, as in rlx's side.

usage: python envs_classic.py SECONDS_PER_RUN REPEATS ENV_ID [ENV_ID ...]
"""
import json
import statistics
import sys
import warnings

import gymnasium as gym
import numpy as np
from timing import rate

warnings.filterwarnings("ignore")
try:
    import envpool
except ImportError:  # reported as missing in the table
    envpool = None


def action_table(space, num_envs, rng, size=1024):
    if isinstance(space, gym.spaces.Discrete):
        return rng.integers(space.n, size=(size, num_envs))
    return rng.uniform(space.low, space.high, size=(size, num_envs) + space.shape).astype(np.float32)


def timed(step_batch, seconds, num_envs):
    """Env steps per second of `step_batch(i)` called in a loop for about `seconds`."""
    return rate(step_batch, seconds, chunk=256) * num_envs


def gym_single(env_id, seconds):
    env = gym.make(env_id)
    env.reset(seed=0)
    table = action_table(env.action_space, 1, np.random.default_rng(0))[:, 0]
    actions = [int(a) for a in table] if table.ndim == 1 else list(table)

    def step(i):
        _, _, term, trunc, _ = env.step(actions[i & 1023])
        if term or trunc:
            env.reset()

    return timed(step, seconds, 1)


def gym_sync(env_id, num_envs, seconds):
    env = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="sync")
    env.reset(seed=0)
    table = action_table(env.single_action_space, num_envs, np.random.default_rng(0))
    return timed(lambda i: env.step(table[i & 1023]), seconds, num_envs)


def envpool_pool(env_id, num_envs, threads, seconds):
    env = envpool.make(env_id, env_type="gymnasium", num_envs=num_envs, batch_size=num_envs, num_threads=threads, seed=0)
    env.reset()
    table = action_table(env.action_space, num_envs, np.random.default_rng(0))
    return timed(lambda i: env.step(table[i & 1023]), seconds, num_envs)


def main():
    seconds, repeats, env_ids = float(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
    results = []

    def record(peer, mode, env_id, num_envs, threads, fn):
        steps_per_s = statistics.median(fn() for _ in range(repeats))
        results.append({"peer": peer, "mode": mode, "env": env_id, "num_envs": num_envs, "threads": threads, "steps_per_s": steps_per_s})
        print(f"{peer:10s} {mode:8s} {env_id:12s} n={num_envs:3d} t={threads} {steps_per_s:12.0f} steps/s", file=sys.stderr)

    for env_id in env_ids:
        record("gymnasium", "single", env_id, 1, 1, lambda: gym_single(env_id, seconds))
        for n in (8, 64):
            record("gymnasium", "sync", env_id, n, 1, lambda: gym_sync(env_id, n, seconds))
        if envpool is not None:
            for n in (8, 64):
                for t in (1, 2):
                    record("envpool", "pool", env_id, n, t, lambda: envpool_pool(env_id, n, t, seconds))
    versions = {"gymnasium": gym.__version__, "numpy": np.__version__, "envpool": envpool.__version__ if envpool else None,
                "python": sys.version.split()[0]}
    print(json.dumps({"versions": versions, "results": results}))


if __name__ == "__main__":
    main()
