"""Records Gymnasium classic-control trajectories for rlx's parity test (envs/tests/gymnasium_parity.rs).

For every env: episodes from random initial states (the reset distribution, wide ranges, and states near the
termination bounds), driven by random actions (continuous ones also outside the bounds, to check clipping) until
terminated or truncated. Writes JSON: {"gymnasium": version, "envs": {id: [episode, ...]}}.

usage: python gymnasium_parity.py OUT.json [EPISODES_PER_ENV (default 150)]
"""
import json
import math
import sys
import warnings

import gymnasium as gym
import numpy as np

warnings.filterwarnings("ignore")


def initial_state(env_id, rng, k):
    """The k-th episode's initial physical state: thirds from the reset range, uniformly random valid states (wide
    ranges: Acrobot's angles anywhere in [-pi, pi] and velocities anywhere within its bounds), near the bounds."""
    kind = k % 3
    if env_id == "CartPole-v1":
        if kind == 0:
            return rng.uniform(-0.05, 0.05, 4)
        if kind == 1:
            return rng.uniform([-2.0, -2.0, -0.18, -2.0], [2.0, 2.0, 0.18, 2.0])
        sign = rng.choice([-1.0, 1.0], 2)
        return np.array([sign[0] * rng.uniform(2.2, 2.399), rng.uniform(-1, 1), sign[1] * rng.uniform(0.18, 0.2094), rng.uniform(-1, 1)])
    if env_id == "Acrobot-v1":
        if kind == 0:
            return rng.uniform(-0.1, 0.1, 4)
        if kind == 1:
            return rng.uniform([-math.pi, -math.pi, -4 * math.pi, -9 * math.pi], [math.pi, math.pi, 4 * math.pi, 9 * math.pi])
        # Just below the terminal height: -cos(t1) - cos(t1 + t2) slightly under 1, moving.
        while True:
            s = rng.uniform([-math.pi, -math.pi, -3, -3], [math.pi, math.pi, 3, 3])
            if 0.8 < -math.cos(s[0]) - math.cos(s[0] + s[1]) <= 1.0:
                return s
    if env_id in ("MountainCar-v0", "MountainCarContinuous-v0"):
        if kind == 0:
            return np.array([rng.uniform(-0.6, -0.4), 0.0])
        if kind == 1:
            return rng.uniform([-1.2, -0.07], [0.6, 0.07])
        # Near the goal or against the left wall.
        return np.array([rng.uniform(0.4, 0.5), rng.uniform(-0.01, 0.07)]) if rng.random() < 0.5 else np.array([rng.uniform(-1.2, -1.15), rng.uniform(-0.07, 0.0)])
    if env_id == "Pendulum-v1":
        if kind == 0:
            return rng.uniform([-math.pi, -1.0], [math.pi, 1.0])
        if kind == 1:
            return rng.uniform([-3 * math.pi, -8.0], [3 * math.pi, 8.0])
        return np.array([rng.uniform(-0.05, 0.05), rng.uniform(-7.9, 7.9)])
    raise ValueError(env_id)


def random_action(space, rng):
    if isinstance(space, gym.spaces.Discrete):
        return int(rng.integers(space.n))
    # 1.5x the bounds: the envs clip (Pendulum) or clamp (MountainCarContinuous) themselves.
    return rng.uniform(1.5 * space.low, 1.5 * space.high).astype(np.float32)


def record(env_id, episodes, seed):
    env = gym.make(env_id)
    rng = np.random.default_rng(seed)
    out = []
    for k in range(episodes):
        env.reset(seed=k)
        s0 = np.array(initial_state(env_id, rng, k), dtype=np.float64)
        env.unwrapped.state = s0.copy()
        actions, obs, states, rewards, terminated, truncated = [], [], [], [], [], []
        # A noisy balancing controller keeps some CartPole episodes up until the 500-step truncation.
        balance = env_id == "CartPole-v1" and k % 3 == 0
        while True:
            state = env.unwrapped.state
            if balance and rng.random() > 0.1:
                a = int(state[2] + 0.5 * state[3] + 0.01 * state[0] + 0.1 * state[1] > 0)
            else:
                a = random_action(env.action_space, rng)
            o, r, term, trunc, _ = env.step(a)
            actions.append(a.tolist() if isinstance(a, np.ndarray) else a)
            obs.append([float(v) for v in o])
            states.append([float(v) for v in env.unwrapped.state])
            rewards.append(float(r))
            terminated.append(bool(term))
            truncated.append(bool(trunc))
            if term or trunc:
                break
        out.append({"seed": k, "state": s0.tolist(), "actions": actions, "obs": obs, "states": states, "rewards": rewards,
                    "terminated": terminated, "truncated": truncated})
    return out


def main():
    path = sys.argv[1]
    episodes = int(sys.argv[2]) if len(sys.argv) > 2 else 150
    ids = ["CartPole-v1", "Acrobot-v1", "MountainCar-v0", "MountainCarContinuous-v0", "Pendulum-v1"]
    data = {"gymnasium": gym.__version__, "numpy": np.__version__,
            "envs": {env_id: record(env_id, episodes, seed=i) for i, env_id in enumerate(ids)}}
    with open(path, "w") as f:
        json.dump(data, f)


if __name__ == "__main__":
    main()
