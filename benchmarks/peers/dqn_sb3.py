"""SB3's DQN on an Atari game with rlx's DQN preset values, for `scripts/bench dqn-atari`: trains for `steps` agent
steps and prints one JSON line: wall-clock, agent steps/s, gradient steps/s after learning_starts, and the replay
bytes per transition of SB3's ReplayBuffer with and without optimize_memory_usage.

usage: python dqn_sb3.py GAME STEPS LEARNING_STARTS SEED"""
import json
import sys
import time

import ale_py
import gymnasium as gym
import numpy as np
import stable_baselines3
import torch
from stable_baselines3 import DQN
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_atari_env
from stable_baselines3.common.vec_env import VecFrameStack

gym.register_envs(ale_py)
game, steps, learning_starts, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])


class Clock(BaseCallback):
    """Time at which learning starts, to split collection-only from learning throughput."""

    def __init__(self):
        super().__init__()
        self.learning_at = None

    def _on_step(self):
        if self.learning_at is None and self.num_timesteps >= learning_starts:
            self.learning_at = (time.perf_counter(), self.num_timesteps, self.model._n_updates)
        return True


env = VecFrameStack(make_atari_env(f"{game}NoFrameskip-v4", n_envs=1, seed=seed), 4)
model = DQN("CnnPolicy", env, buffer_size=100_000, learning_rate=1e-4, batch_size=32, learning_starts=learning_starts,
            target_update_interval=1000, train_freq=4, gradient_steps=1, exploration_fraction=0.1,
            exploration_final_eps=0.01, optimize_memory_usage=False, seed=seed, verbose=0)
clock = Clock()
start = time.perf_counter()
model.learn(steps, callback=clock)
end = time.perf_counter()
t0, s0, u0 = clock.learning_at
per_transition = {}
for optimize in (False, True):
    kwargs = {"handle_timeout_termination": False} if optimize else {}
    buffer = ReplayBuffer(1000, env.observation_space, env.action_space, optimize_memory_usage=optimize, **kwargs)
    arrays = [buffer.observations, buffer.actions, buffer.rewards, buffer.dones, buffer.timeouts]
    if not optimize:
        arrays.append(buffer.next_observations)
    per_transition[str(optimize)] = sum(a.nbytes for a in arrays) / 1000
print(json.dumps({
    "sb3": stable_baselines3.__version__, "torch": torch.__version__, "threads": torch.get_num_threads(),
    "wall_s": end - start, "sps": steps / (end - start),
    "learning_sps": (steps - s0) / (end - t0), "gradient_steps_per_s": (model._n_updates - u0) / (end - t0),
    "bytes_per_transition": per_transition["False"], "bytes_per_transition_optimized": per_transition["True"],
}))
