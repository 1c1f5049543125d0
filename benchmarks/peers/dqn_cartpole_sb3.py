"""SB3's DQN on CartPole-v1 with rl-zoo3's preset (the values of presets/dqn/CartPole-v1.toml), for
`scripts/bench dqn-cartpole`: trains one seed for 5e4 steps, then plays 10 greedy episodes on a fresh env seeded
10000 (as `rlx eval RUN --episodes 10 --epsilon 0 --seed 10000` does) and prints one JSON line.

usage: python dqn_cartpole_sb3.py SEED"""
import json
import sys
import time

import gymnasium as gym
import stable_baselines3
import torch
from stable_baselines3 import DQN
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy

seed = int(sys.argv[1])
torch.set_num_threads(1)  # rlx's run is one env and one MLP: one thread each keeps the comparison about the algorithm
start = time.perf_counter()
model = DQN("MlpPolicy", "CartPole-v1", learning_rate=2.3e-3, batch_size=64, buffer_size=100_000,
            learning_starts=1000, gamma=0.99, target_update_interval=10, train_freq=256, gradient_steps=128,
            exploration_fraction=0.16, exploration_final_eps=0.04, policy_kwargs={"net_arch": [256, 256]},
            seed=seed, device="cpu", verbose=0)
model.learn(50_000)
seconds = time.perf_counter() - start
env = make_vec_env("CartPole-v1", n_envs=1, seed=10_000)
mean, std = evaluate_policy(model, env, n_eval_episodes=10, deterministic=True)
print(json.dumps({"seed": seed, "mean_return": float(mean), "std": float(std), "seconds": seconds,
                  "sb3": stable_baselines3.__version__, "gymnasium": gym.__version__}))
