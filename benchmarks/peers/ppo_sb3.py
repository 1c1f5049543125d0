"""Stable-Baselines3 PPO with an rlx preset (presets/ppo/<env>.toml), for bench_ppo_classic (which runs this).

Trains one seed, then evaluates the final policy for 10 deterministic episodes (VecNormalize statistics frozen,
rewards unnormalized), and prints one JSON line: {"env", "seed", "wall_s", "sps", "eval_mean", "eval_std",
"curve": [[timestep, episode_return], ...], "versions": {...}}. wall_s times model.learn() only.

usage: python ppo_sb3.py PRESET_TOML SEED
"""
import json
import sys
import time
import tomllib
import warnings

import gymnasium as gym
import numpy as np
import stable_baselines3 as sb3
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.vec_env import VecNormalize

from sb3_common import EpisodeCurve, schedule  # benchmarks/peers/sb3_common.py

warnings.filterwarnings("ignore")


def main():
    with open(sys.argv[1], "rb") as f:
        p = tomllib.load(f)
    seed = int(sys.argv[2])
    env_id = p["env_id"]
    normalize = p.get("normalize_obs", False) or p.get("normalize_reward", False)
    gamma = p.get("gamma", 0.99)
    env = make_vec_env(env_id, n_envs=p.get("n_envs", 1), seed=seed)
    if normalize:
        env = VecNormalize(env, norm_obs=p.get("normalize_obs", False), norm_reward=p.get("normalize_reward", False), gamma=gamma)
    policy_kwargs = dict(
        net_arch=dict(pi=p.get("net_arch_pi", [64, 64]), vf=p.get("net_arch_vf", [64, 64])),
        activation_fn={"tanh": torch.nn.Tanh, "relu": torch.nn.ReLU}[p.get("activation", "tanh")],
        ortho_init=p.get("ortho_init", True),
        log_std_init=p.get("log_std_init", 0.0),
    )
    model = PPO(
        "MlpPolicy", env, seed=seed, device="cpu", verbose=0, policy_kwargs=policy_kwargs,
        learning_rate=schedule(p.get("learning_rate", 3e-4)), n_steps=p.get("n_steps", 2048),
        batch_size=p.get("batch_size", 64), n_epochs=p.get("n_epochs", 10), gamma=gamma,
        gae_lambda=p.get("gae_lambda", 0.95), clip_range=schedule(p.get("clip_range", 0.2)),
        clip_range_vf=schedule(p["clip_range_vf"]) if "clip_range_vf" in p else None,
        normalize_advantage=p.get("normalize_advantage", True), ent_coef=p.get("ent_coef", 0.0),
        vf_coef=p.get("vf_coef", 0.5), max_grad_norm=p.get("max_grad_norm", 0.5), target_kl=p.get("target_kl"),
    )
    callback = EpisodeCurve()
    start = time.perf_counter()
    model.learn(total_timesteps=p["total_timesteps"], callback=callback)
    wall = time.perf_counter() - start

    eval_env = make_vec_env(env_id, n_envs=1, seed=seed + 10_000)
    if normalize:
        eval_env = VecNormalize(eval_env, norm_obs=p.get("normalize_obs", False), norm_reward=False, training=False)
        eval_env.obs_rms = env.obs_rms
    mean, std = evaluate_policy(model, eval_env, n_eval_episodes=10, deterministic=True)
    print(json.dumps({
        "env": env_id, "seed": seed, "wall_s": wall, "sps": model.num_timesteps / wall, "eval_mean": float(mean),
        "eval_std": float(std), "curve": callback.curve,
        "versions": {"stable_baselines3": sb3.__version__, "torch": torch.__version__, "gymnasium": gym.__version__,
                     "numpy": np.__version__, "torch_threads": torch.get_num_threads()},
    }))


if __name__ == "__main__":
    main()
