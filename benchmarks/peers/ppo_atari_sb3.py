"""SB3's PPO("CnnPolicy") on an Atari game with rlx's preset presets/ppo/atari.toml (rl-zoo3's Atari values), for
`scripts/bench ppo-atari`: trains one seed for STEPS env steps on `make_atari_env` (AtariWrapper: 30 no-ops,
frame skip 4 with max-pooling, 84x84 grey, life loss as terminal, clipped rewards) + `VecFrameStack(4)`, and prints
one JSON line: {"wall_s", "sps", "curve": [[timestep, full-game return], ...], "updates": [[timestep, entropy,
approx_kl, clip_fraction, explained_variance], ...], "timing": [[timestep, env_step_s, rollout_s, update_s], ...],
"versions"}. The returns are the
Monitor's, which sits inside AtariWrapper: whole games, unclipped. wall_s times model.learn() only.

usage: python ppo_atari_sb3.py PRESET_TOML ENV_ID STEPS SEED [TORCH_THREADS (0 = PyTorch's default)]
"""
import json
import sys
import time
import tomllib
import warnings

import ale_py
import gymnasium as gym
import numpy as np
import stable_baselines3 as sb3
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_atari_env
from stable_baselines3.common.vec_env import VecFrameStack

from sb3_common import EpisodeCurve, PhaseTimes, TimedVecEnv, UpdateStats, schedule  # benchmarks/peers/sb3_common.py

warnings.filterwarnings("ignore")
gym.register_envs(ale_py)


def main():
    with open(sys.argv[1], "rb") as f:
        p = tomllib.load(f)
    env_id, steps, seed = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    if len(sys.argv) > 5 and int(sys.argv[5]) > 0:
        torch.set_num_threads(int(sys.argv[5]))
    env = TimedVecEnv(VecFrameStack(make_atari_env(env_id, n_envs=p["n_envs"], seed=seed), n_stack=4))
    model = PPO(
        "CnnPolicy", env, seed=seed, device="cpu", verbose=0,
        learning_rate=schedule(p["learning_rate"]), n_steps=p["n_steps"], batch_size=p["batch_size"],
        n_epochs=p["n_epochs"], clip_range=schedule(p["clip_range"]), vf_coef=p["vf_coef"], ent_coef=p["ent_coef"],
    )
    callback, updates, timing = EpisodeCurve(), UpdateStats(), PhaseTimes(env)
    start = time.perf_counter()
    model.learn(total_timesteps=steps, callback=[callback, updates, timing])
    wall = time.perf_counter() - start
    print(json.dumps({
        "wall_s": wall, "sps": model.num_timesteps / wall, "curve": callback.curve, "updates": updates.updates,
        "timing": timing.rows,
        "versions": {"stable_baselines3": sb3.__version__, "torch": torch.__version__, "gymnasium": gym.__version__,
                     "ale_py": ale_py.__version__, "numpy": np.__version__, "torch_threads": torch.get_num_threads()},
    }))


if __name__ == "__main__":
    main()
