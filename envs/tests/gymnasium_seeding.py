"""Seeded random rollouts in Gymnasium, for rlx's seeding parity test (envs/tests/gymnasium_seeding.rs).

For every classic-control env and seeds 0..SEEDS: `env.reset(seed=s)`, `env.action_space.seed(s)`, then
`action_space.sample()` actions until the episode ends or STEPS steps. Nothing else is set: the initial state comes
from Gymnasium's own seeding (NumPy's default_rng), so rlx must seed and sample exactly as it does.
Writes JSON: {"gymnasium", "numpy", "envs": {id: [{"seed", "obs0", "actions", "obs", "rewards", "terminated",
"truncated"}]}}.

usage: python gymnasium_seeding.py OUT.json [SEEDS] [STEPS]
"""
import json
import sys
import warnings

import gymnasium as gym
import numpy as np

warnings.filterwarnings("ignore")
IDS = ["CartPole-v1", "Acrobot-v1", "MountainCar-v0", "MountainCarContinuous-v0", "Pendulum-v1"]


def main(out, seeds, steps):
    envs = {}
    for env_id in IDS:
        env = gym.make(env_id)
        episodes = []
        for seed in range(seeds):
            obs0, _ = env.reset(seed=seed)
            env.action_space.seed(seed)
            ep = {"seed": seed, "obs0": obs0.tolist(), "actions": [], "obs": [], "rewards": [], "terminated": [],
                  "truncated": []}
            for _ in range(steps):
                action = env.action_space.sample()
                obs, reward, terminated, truncated, _ = env.step(action)
                ep["actions"].append(action.tolist() if isinstance(action, np.ndarray) else int(action))
                ep["obs"].append(obs.tolist())
                ep["rewards"].append(float(reward))
                ep["terminated"].append(bool(terminated))
                ep["truncated"].append(bool(truncated))
                if terminated or truncated:
                    break
            episodes.append(ep)
        envs[env_id] = episodes
    json.dump({"gymnasium": gym.__version__, "numpy": np.__version__, "envs": envs}, open(out, "w"))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 40, int(sys.argv[3]) if len(sys.argv) > 3 else 300)
