"""Records ale-py (+ Gymnasium's AtariPreprocessing) trajectories for rlx's Atari parity test (atari_parity.rs).

For each game, ale-py's `ALE/<Game>-v5` with `<Game>NoFrameskip-v4`'s settings (frameskip 1, sticky actions off;
some games have no v4 id) and a fixed random action sequence:
  raw:  per emulator frame, a checksum of the RGB screen, the reward, lives and terminated;
  noops: checksums of the reset frame and of NOOP_FRAMES no-op frames after it (to diagnose reset sequences);
  rom, rom_size, actions: checksum and size of ale-py's ROM file and its minimal action set (ALE codes);
  pre:  AtariPreprocessing(noop_max=0, frame_skip=4, screen_size=84, grayscale, no life loss) frames (84x84 bytes,
        appended to OUT.frames in game order, reset frame first), rewards and terminated.
Writes OUT.json and OUT.frames.  usage: python atari_parity.py OUT GAME [GAME ...]
"""
import json
import os
import re
import sys

import ale_py
import gymnasium as gym
import numpy as np
from gymnasium.wrappers import AtariPreprocessing

gym.register_envs(ale_py)
RAW_STEPS, PRE_STEPS, NOOP_FRAMES = 400, 150, 120


def make(game):
    return gym.make(f"ALE/{game}-v5", frameskip=1, repeat_action_probability=0.0, full_action_space=False,
                    max_num_frames_per_episode=108_000)


def checksum(frame):
    flat = frame.reshape(-1).astype(np.uint64)
    weights = (np.arange(flat.size, dtype=np.uint64) % np.uint64(65521)) + np.uint64(1)
    return int(np.sum(flat * weights))


def main():
    out, games = sys.argv[1], sys.argv[2:]
    rom_dir = os.path.dirname(ale_py.roms.get_rom_path("pong"))
    result = {"ale_py": ale_py.__version__, "gymnasium": gym.__version__, "rom_dir": rom_dir, "games": {}}
    with open(out + ".frames", "wb") as frames:
        for game in games:
            env = make(game)
            rng = np.random.default_rng(0)
            actions = [int(a) for a in rng.integers(env.action_space.n, size=RAW_STEPS)]
            obs, _ = env.reset(seed=0)
            raw = {"actions": actions, "reset": checksum(obs), "checksums": [], "rewards": [], "lives": [], "terminated": []}
            for a in actions:
                obs, r, term, trunc, info = env.step(a)
                raw["checksums"].append(checksum(obs))
                raw["rewards"].append(float(r))
                raw["lives"].append(int(info["lives"]))
                raw["terminated"].append(bool(term))
                if term or trunc:
                    break
            pre_env = AtariPreprocessing(make(game), noop_max=0, frame_skip=4, screen_size=84,
                                         terminal_on_life_loss=False, grayscale_obs=True)
            pre_actions = [int(a) for a in rng.integers(env.action_space.n, size=PRE_STEPS)]
            obs, _ = pre_env.reset(seed=0)
            frames.write(obs.astype(np.uint8).tobytes())
            pre = {"actions": pre_actions, "rewards": [], "terminated": []}
            for a in pre_actions:
                obs, r, term, trunc, _ = pre_env.step(a)
                frames.write(obs.astype(np.uint8).tobytes())
                pre["rewards"].append(float(r))
                pre["terminated"].append(bool(term or trunc))
                if term or trunc:
                    break
            obs, _ = env.reset(seed=0)
            noops = [checksum(obs)] + [checksum(env.step(0)[0]) for _ in range(NOOP_FRAMES)]
            with open(ale_py.roms.get_rom_path(re.sub(r"(?<!^)(?=[A-Z])", "_", game).lower()), "rb") as f:
                rom = np.frombuffer(f.read(), dtype=np.uint8)
            actions = [int(a.value) for a in env.unwrapped.ale.getMinimalActionSet()]
            result["games"][game] = {"raw": raw, "pre": pre, "noops": noops, "rom": checksum(rom),
                                     "rom_size": int(rom.size), "actions": actions}
    with open(out + ".json", "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
