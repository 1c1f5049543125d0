"""Gymnasium's rgb_array frames of the classic-control envs at seeded random states, for envs/tests/render_parity.rs.

usage: render_parity.py OUT_DIR N_STATES

Writes OUT_DIR/<env id>.rgb (N_STATES frames, raw uint8 [H, W, 3] each, one after the other) and OUT_DIR/states.json
({"gymnasium": version, "envs": {id: {"height", "width", "states": [[...], ...]}}}).
"""

import json
import os
import sys

# Headless pygame, quiet.
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
import gymnasium as gym
import numpy as np

# Angles anywhere, positions across the track or hill: every part of the picture gets exercised.
RANGES = {
    "CartPole-v1": [(-2.4, 2.4), (-1, 1), (-0.8, 0.8), (-1, 1)],
    "Acrobot-v1": [(-np.pi, np.pi), (-np.pi, np.pi), (-1, 1), (-1, 1)],
    "MountainCar-v0": [(-1.2, 0.6), (-0.07, 0.07)],
    "MountainCarContinuous-v0": [(-1.2, 0.6), (-0.07, 0.07)],
    "Pendulum-v1": [(-np.pi, np.pi), (-1, 1)],
}


def main(out_dir, n_states):
    rng = np.random.default_rng(0)
    summary = {"gymnasium": gym.__version__, "envs": {}}
    for env_id, ranges in RANGES.items():
        env = gym.make(env_id, render_mode="rgb_array")
        env.reset(seed=0)  # Pendulum: no torque applied yet, so no arrow is drawn
        states, frames = [], []
        for _ in range(n_states):
            state = [float(rng.uniform(lo, hi)) for lo, hi in ranges]
            env.unwrapped.state = np.array(state)
            frames.append(env.render())
            states.append(state)
        height, width, _ = frames[0].shape
        with open(os.path.join(out_dir, f"{env_id}.rgb"), "wb") as f:
            for frame in frames:
                f.write(np.ascontiguousarray(frame, dtype=np.uint8).tobytes())
        summary["envs"][env_id] = {"height": height, "width": width, "states": states}
        env.close()
    with open(os.path.join(out_dir, "states.json"), "w") as f:
        json.dump(summary, f)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
