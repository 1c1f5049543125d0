"""SB3's side of agents/tests/ppo_update_parity.rs: one whole PPO update by SB3 2.9.2's own `PPO.train()`.

usage: python ppo_update_parity.py IN.npz OUT.npz

IN holds what rlx's agent had after collecting a Breakout rollout in the middle of training:
- `w.<rlx name>`, `m.<rlx name>`, `v.<rlx name>`: the policy weights and Adam's moments, `adam_step`;
- the rollout, step-major as rlx stores it (row = step * n_envs + env): `obs` uint8 (n_steps * n_envs, 4, 84, 84),
  `actions`, `rewards`, `episode_starts`, `values`, `log_probs`; `last_obs` (n_envs, 4, 84, 84) and `last_dones`;
- `orders` (n_epochs, n_steps * n_envs): the minibatch order of each epoch, in rlx's row numbering;
- `settings`: n_steps, n_envs, batch_size, n_epochs, progress_remaining, and rl-zoo3's Atari values (lr 2.5e-4 and
  clip range 0.1, both linear to 0; ent_coef 0.01; vf_coef 0.5).

The script builds SB3's PPO("CnnPolicy") on envs of Breakout's spaces, loads the weights and the Adam state, fills
SB3's RolloutBuffer with the rollout (`add` step by step, then `compute_returns_and_advantage` with SB3's own value
of the last observations), makes `np.random.permutation` return rlx's orders (translated to SB3's env-major rows),
runs `PPO.train()` as `learn` would at that progress, and writes `advantages` and `returns` (rlx's row order),
`updated.<rlx name>` per parameter, and SB3's logged `log.<key>` values.
"""
import itertools
import sys

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.logger import configure
from stable_baselines3.common.vec_env import DummyVecEnv

from ppo_cnn_parity import sb3_name  # the parameter-name map of the one-minibatch test


class BreakoutSpaces(gym.Env):
    """Only Breakout's spaces: PPO needs an env to build, `train()` never steps it."""

    observation_space = gym.spaces.Box(0, 255, (4, 84, 84), np.uint8)
    action_space = gym.spaces.Discrete(4)

    def reset(self, seed=None, options=None):
        return self.observation_space.sample(), {}

    def step(self, action):
        return self.observation_space.sample(), 0.0, False, False, {}


def main(inp, out):
    data = dict(np.load(inp))
    n_steps, n_envs, batch_size, n_epochs, progress = data["settings"].tolist()
    n_steps, n_envs, batch_size, n_epochs = int(n_steps), int(n_envs), int(batch_size), int(n_epochs)
    rlx_names = sorted(k[2:] for k in data if k.startswith("w."))

    env = DummyVecEnv([BreakoutSpaces] * n_envs)
    model = PPO("CnnPolicy", env, n_steps=n_steps, batch_size=batch_size, n_epochs=n_epochs,
                learning_rate=lambda p: p * 2.5e-4, clip_range=lambda p: p * 0.1, ent_coef=0.01, vf_coef=0.5,
                device="cpu", seed=0)
    model.set_logger(configure(None, []))
    policy = model.policy
    params = dict(policy.named_parameters())
    assert set(params) == {sb3_name(n) for n in rlx_names}, "every SB3 parameter has an rlx counterpart"
    with torch.no_grad():
        for name in rlx_names:
            params[sb3_name(name)].copy_(torch.from_numpy(data[f"w.{name}"]))
    # Adam's state as torch.optim.Adam keeps it.
    step = float(data["adam_step"][0])
    for name in rlx_names:
        policy.optimizer.state[params[sb3_name(name)]] = {
            "step": torch.tensor(step),
            "exp_avg": torch.from_numpy(data[f"m.{name}"]).clone(),
            "exp_avg_sq": torch.from_numpy(data[f"v.{name}"]).clone(),
        }

    # The rollout, step by step, into SB3's buffer; rlx rows are step * n_envs + env.
    buffer = model.rollout_buffer
    buffer.reset()
    rows = lambda key: data[key].reshape(n_steps, n_envs, *data[key].shape[1:])
    obs, actions, rewards, starts = rows("obs"), rows("actions"), rows("rewards"), rows("episode_starts")
    values, log_probs = rows("values"), rows("log_probs")
    for t in range(n_steps):
        buffer.add(obs[t], actions[t].reshape(n_envs, 1), rewards[t], starts[t], torch.from_numpy(values[t]),
                   torch.from_numpy(log_probs[t]))
    with torch.no_grad():
        last_values = policy.predict_values(torch.from_numpy(data["last_obs"]))
    buffer.compute_returns_and_advantage(last_values, data["last_dones"].astype(bool))
    # (n_steps, n_envs) now; train() flattens the buffer env-major, so keep them in rlx's step-major order first.
    result = {"advantages": buffer.advantages.reshape(-1).copy(), "returns": buffer.returns.reshape(-1).copy()}

    # rlx's minibatch orders, in SB3's flattened (env-major: env * n_steps + step) numbering.
    sb3_row = lambda rlx_row: (rlx_row % n_envs) * n_steps + rlx_row // n_envs
    orders = iter([sb3_row(order.astype(np.int64)) for order in data["orders"]])
    np.random.permutation = lambda n: next(orders)

    model._current_progress_remaining = float(progress)
    model.train()
    assert next(orders, None) is None, "train() used every epoch's order"

    for name in rlx_names:
        result[f"updated.{name}"] = params[sb3_name(name)].detach().numpy()
    for key, value in model.logger.name_to_value.items():
        result[f"log.{key}"] = np.array([value], dtype=np.float64)
    np.savez(out, **result)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
