"""What the SB3 PPO peer scripts share: rl-zoo3's schedule strings and the training-episode curve callback."""
from stable_baselines3.common.callbacks import BaseCallback


def schedule(value):
    """rl-zoo3's lin_<x> strings (linear to 0 over training) or a constant."""
    if isinstance(value, str) and value.startswith("lin_"):
        start = float(value[4:])
        return lambda progress_remaining: progress_remaining * start
    return float(value)


class EpisodeCurve(BaseCallback):
    """[timestep, return] of every finished episode (the Monitor's `info["episode"]`)."""

    def __init__(self):
        super().__init__()
        self.curve = []

    def _on_step(self):
        for info in self.locals["infos"]:
            if "episode" in info:
                self.curve.append([self.num_timesteps, float(info["episode"]["r"])])
        return True
