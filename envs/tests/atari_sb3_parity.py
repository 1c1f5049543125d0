"""Records SB3's AtariWrapper trajectories for rlx's SB3 frame parity test (atari_sb3_parity.rs).

For each game: Stable-Baselines3's `AtariWrapper` (NoopReset 30, drawn from the env's seeded generator; MaxAndSkip 4
over RGB, EpisodicLife, FireReset, WarpFrame 84x84: cv2 RGB2GRAY + INTER_AREA, ClipReward) on ale-py's `<Game>NoFrameskip-v4`, a fixed random action
sequence, `reset()` whenever an episode ends (a life loss or a game over). Per agent step: the 84x84 frame (appended
to OUT/<game>.frames, reset frames included, in order), the clipped reward, terminated, truncated and lives.
Beside each frame, a checksum of the 4-frame stack SB3's `VecFrameStack` makes of it (its `StackedObservations`,
zero-padded after every reset; the terminal stack for an episode's last step), channels first: rlx's
`stack_padding = "zeros"` must give the same stacks.

First it checks the luma formula rlx uses (BT.601 in 15-bit fixed point, rounded half up) against
`cv2.cvtColor(COLOR_RGB2GRAY)` on all 2^24 colours, so a frame difference is never that formula's fault.

Writes OUT/recording.json and OUT/<game>.frames.  usage: python atari_sb3_parity.py OUT STEPS GAME [GAME ...]
"""
import json
import os
import sys

import ale_py
import cv2
import gymnasium as gym
import numpy as np
import stable_baselines3
from gymnasium import spaces
from stable_baselines3.common.atari_wrappers import AtariWrapper
from stable_baselines3.common.vec_env.stacked_observations import StackedObservations

STACK = 4
WEIGHTS = np.arange(1, STACK * 84 * 84 + 1, dtype=np.int64)

gym.register_envs(ale_py)


def check_luma():
    """rlx's 15-bit fixed-point luma equals OpenCV's RGB2GRAY on every 8-bit colour; returns the colours checked."""
    c = np.arange(1 << 24, dtype=np.uint32)
    rgb = np.stack([(c >> 16) & 255, (c >> 8) & 255, c & 255], axis=-1).astype(np.uint8).reshape(4096, 4096, 3)
    theirs = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    r, g, b = (rgb[..., i].astype(np.uint32) for i in range(3))
    ours = ((r * 9798 + g * 19235 + b * 3735 + (1 << 14)) >> 15).astype(np.uint8)
    bad = int(np.count_nonzero(ours != theirs))
    if bad:
        raise SystemExit(f"OpenCV's RGB2GRAY differs from the 15-bit fixed-point luma on {bad} colours")
    return 1 << 24


def checksum(stack):
    """sum_i (i + 1) * byte_i over a (84, 84, 4) stack read channels first, as rlx lays its stacks out."""
    return int(np.transpose(stack, (2, 0, 1)).reshape(-1).astype(np.int64) @ WEIGHTS)


def lives(env):
    """ALE's lives now (FireResetEnv.reset returns an empty info)."""
    return int(env.unwrapped.ale.lives())


def main():
    out, steps, games = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    os.makedirs(out, exist_ok=True)
    result = {
        "sb3": stable_baselines3.__version__,
        "ale_py": ale_py.__version__,
        "opencv": cv2.__version__,
        "luma_colours_checked": check_luma(),
        "games": {},
    }
    for game in games:
        env = AtariWrapper(gym.make(f"{game}NoFrameskip-v4"), noop_max=30)
        rng = np.random.default_rng(0)
        actions = [int(a) for a in rng.integers(env.action_space.n, size=steps)]
        record = {"actions": actions, "rewards": [], "terminated": [], "truncated": [], "lives": [], "resets": []}
        stacker = StackedObservations(1, STACK, spaces.Box(0, 255, (84, 84, 1), np.uint8), "last")
        sums = record["stack_sums"] = []
        with open(os.path.join(out, f"{game}.frames"), "wb") as frames:
            obs, _ = env.reset(seed=0)
            frames.write(obs[..., 0].tobytes())
            sums.append(checksum(stacker.reset(obs[None])[0]))
            record["reset_lives"] = [lives(env)]
            for t, a in enumerate(actions):
                obs, reward, terminated, truncated, _ = env.step(a)
                frames.write(obs[..., 0].tobytes())
                if not (terminated or truncated):
                    sums.append(checksum(stacker.update(obs[None], np.array([False]), [{}])[0][0]))
                record["rewards"].append(float(reward))
                record["terminated"].append(bool(terminated))
                record["truncated"].append(bool(truncated))
                record["lives"].append(lives(env))
                if terminated or truncated:
                    final = obs
                    obs, _ = env.reset()
                    frames.write(obs[..., 0].tobytes())
                    # As VecFrameStack sees an autoreset: the reset frame, with the final one in the info.
                    stacked, infos = stacker.update(obs[None], np.array([True]), [{"terminal_observation": final}])
                    sums.append(checksum(infos[0]["terminal_observation"]))
                    sums.append(checksum(stacked[0]))
                    record["resets"].append(t)
                    record["reset_lives"].append(lives(env))
        result["games"][game] = record
    with open(os.path.join(out, "recording.json"), "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
