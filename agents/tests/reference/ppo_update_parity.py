"""SB3's side of agents/tests/ppo_update_parity.rs: a rollout by SB3 2.9.2's own `collect_rollouts()` and a whole
update by its own `PPO.train()`, from rlx's state.

usage: python ppo_update_parity.py IN.npz OUT.npz

IN holds, from rlx's agent on Breakout (4 envs seeded seed + i, SB3's Atari frames):
- `first.w.<rlx name>`: the initial weights and `first.actions` (n_steps * n_envs,): the actions of its first
  rollout, step-major (row = step * n_envs + env) as rlx stores rollouts;
- after one update and a second rollout: `w.<rlx name>`, `m.<rlx name>`, `v.<rlx name>`: the weights and Adam's
  moments, `adam_step`; that rollout: `obs` uint8 (n_steps * n_envs, 4, 84, 84), `actions`, `rewards`,
  `episode_starts`, `values`, `log_probs`; `last_obs` (n_envs, 4, 84, 84) and `last_dones`;
- `orders` (n_epochs, n_steps * n_envs): the minibatch order of each epoch, in rlx's row numbering;
- `settings`: n_steps, n_envs, batch_size, n_epochs, progress_remaining, seed; the script uses rl-zoo3's Atari
  values (lr 2.5e-4 and clip range 0.1, both linear to 0; ent_coef 0.01; vf_coef 0.5).

The rollout: SB3's PPO on `make_atari_env(n_envs, seed)` + `VecFrameStack(4)` with rlx's initial weights runs
`collect_rollouts()`, its policy made to take rlx's actions (values and log-probabilities its own); it writes
`first.<field>` for the buffer's obs, rewards, episode_starts, values, log_probs, advantages and returns (rlx's row
order).

The update: SB3's PPO("CnnPolicy") on envs of Breakout's spaces gets the weights and the Adam state, its
RolloutBuffer the second rollout (`add` step by step, then `compute_returns_and_advantage` with SB3's own value of
the last observations), `np.random.permutation` returns rlx's orders (translated to SB3's env-major rows), and
`PPO.train()` runs as `learn` would at that progress. It writes `advantages` and `returns` (rlx's row order),
`updated.<rlx name>` per parameter, and SB3's logged `log.<key>` values.
"""
import sys

import ale_py
import gymnasium as gym
import numpy as np
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_atari_env
from stable_baselines3.common.logger import configure
from stable_baselines3.common.vec_env import DummyVecEnv, VecFrameStack

from ppo_cnn_parity import sb3_name  # the parameter-name map of the one-minibatch test

gym.register_envs(ale_py)


class BreakoutSpaces(gym.Env):
    """Only Breakout's spaces: PPO needs an env to build, `train()` never steps it."""

    observation_space = gym.spaces.Box(0, 255, (4, 84, 84), np.uint8)
    action_space = gym.spaces.Discrete(4)

    def reset(self, seed=None, options=None):
        return self.observation_space.sample(), {}

    def step(self, action):
        return self.observation_space.sample(), 0.0, False, False, {}


def ppo(env, n_steps, batch_size, n_epochs, seed):
    """rl-zoo3's Atari PPO with its logger on. Its seed also seeds the envs (env i: seed + i), as in rl-zoo3."""
    model = PPO("CnnPolicy", env, n_steps=n_steps, batch_size=batch_size, n_epochs=n_epochs,
                learning_rate=lambda p: p * 2.5e-4, clip_range=lambda p: p * 0.1, ent_coef=0.01, vf_coef=0.5,
                device="cpu", seed=seed)
    model.set_logger(configure(None, []))
    return model


def load_weights(policy, data, prefix, rlx_names):
    params = dict(policy.named_parameters())
    assert set(params) == {sb3_name(n) for n in rlx_names}, "every SB3 parameter has an rlx counterpart"
    with torch.no_grad():
        for name in rlx_names:
            params[sb3_name(name)].copy_(torch.from_numpy(data[f"{prefix}{name}"]))
    return params


def first_rollout(data, rlx_names, n_steps, n_envs, seed):
    """SB3's collect_rollouts() on the real envs, taking rlx's actions: the buffer, in rlx's row order."""
    env = VecFrameStack(make_atari_env("BreakoutNoFrameskip-v4", n_envs=n_envs, seed=seed), n_stack=4)
    model = ppo(env, n_steps, n_steps * n_envs, 1, seed)
    policy = model.policy
    load_weights(policy, data, "first.w.", rlx_names)
    actions = iter(torch.from_numpy(data["first.actions"]).long().reshape(n_steps, n_envs))

    def forward(obs, deterministic=False):
        taken = next(actions)
        values, log_prob, _ = policy.evaluate_actions(obs, taken)
        return taken, values, log_prob

    policy.forward = forward
    _, callback = model._setup_learn(n_steps * n_envs, None)
    assert model.collect_rollouts(model.env, callback, model.rollout_buffer, n_steps)
    buffer = model.rollout_buffer
    step_major = lambda x: x.reshape(n_steps * n_envs, *x.shape[2:]).copy()
    return {f"first.{key}": step_major(getattr(buffer, key)) for key in
            ["observations", "rewards", "episode_starts", "values", "log_probs", "advantages", "returns"]}


def main(inp, out):
    data = dict(np.load(inp))
    n_steps, n_envs, batch_size, n_epochs, progress, seed = data["settings"].tolist()
    n_steps, n_envs, batch_size, n_epochs, seed = int(n_steps), int(n_envs), int(batch_size), int(n_epochs), int(seed)
    rlx_names = sorted(k[2:] for k in data if k.startswith("w."))
    first = first_rollout(data, rlx_names, n_steps, n_envs, seed)

    model = ppo(DummyVecEnv([BreakoutSpaces] * n_envs), n_steps, batch_size, n_epochs, seed)
    policy = model.policy
    params = load_weights(policy, data, "w.", rlx_names)
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
    result = {"advantages": buffer.advantages.reshape(-1).copy(), "returns": buffer.returns.reshape(-1).copy(),
              **first}

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
