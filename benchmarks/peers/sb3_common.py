"""What the SB3 PPO peer scripts share: rl-zoo3's schedule strings, the training-episode curve callback and the
per-update statistics callback."""
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


class UpdateStats(BaseCallback):
    """[timestep, entropy, approx_kl, clip_fraction, explained_variance] of every PPO update, read from SB3's logger
    when the next rollout starts (PPO.learn dumps the logger after the rollout, so the last train() values are there).
    """

    KEYS = ("train/entropy_loss", "train/approx_kl", "train/clip_fraction", "train/explained_variance")

    def __init__(self):
        super().__init__()
        self.updates = []

    def _on_rollout_start(self):
        self._record()

    def _on_training_end(self):
        if self.updates and self.updates[-1][0] == self.num_timesteps:
            return
        self._record()

    def _record(self):
        values = self.model.logger.name_to_value
        if all(k in values for k in self.KEYS):
            entropy_loss, approx_kl, clip_fraction, explained = (float(values[k]) for k in self.KEYS)
            self.updates.append([self.num_timesteps, -entropy_loss, approx_kl, clip_fraction, explained])

    def _on_step(self):
        return True
