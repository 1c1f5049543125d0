"""What the SB3 PPO peer scripts share: rl-zoo3's schedule strings, the training-episode curve callback, the
per-update statistics callback and the per-iteration time profile (a timed VecEnv wrapper and its callback)."""
import time

from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import VecEnvWrapper


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


class TimedVecEnv(VecEnvWrapper):
    """Adds up the seconds spent stepping the wrapped envs (frame stacking included), as rlx's
    `charts/env_step_seconds` does."""

    def __init__(self, venv):
        super().__init__(venv)
        self.seconds = 0.0
        self._started = 0.0

    def reset(self):
        return self.venv.reset()

    def step_async(self, actions):
        self._started = time.perf_counter()
        self.venv.step_async(actions)

    def step_wait(self):
        result = self.venv.step_wait()
        self.seconds += time.perf_counter() - self._started
        return result


class PhaseTimes(BaseCallback):
    """[timestep, env_step_s, rollout_s, update_s] of every PPO iteration, the profile rlx logs as
    `charts/{env_step,rollout,update}_seconds`: the rollout runs from `on_rollout_start` to `on_rollout_end` (GAE
    included), the update from there to the next rollout's start (or the end of training)."""

    def __init__(self, timed_env):
        super().__init__()
        self.timed_env = timed_env
        self.rows = []
        self._pending = None  # [timestep, env_s, rollout_s] of the iteration whose update is running
        self._rollout_started = self._env_seconds_at_start = self._rollout_ended = 0.0

    def _on_rollout_start(self):
        self._close_update()
        self._rollout_started, self._env_seconds_at_start = time.perf_counter(), self.timed_env.seconds

    def _on_rollout_end(self):
        self._rollout_ended = time.perf_counter()
        env_s = self.timed_env.seconds - self._env_seconds_at_start
        self._pending = [self.num_timesteps, env_s, self._rollout_ended - self._rollout_started]

    def _on_training_end(self):
        self._close_update()

    def _close_update(self):
        if self._pending is not None:
            self.rows.append(self._pending + [time.perf_counter() - self._rollout_ended])
            self._pending = None

    def _on_step(self):
        return True
