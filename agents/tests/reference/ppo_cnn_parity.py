"""SB3's side of agents/tests/ppo_cnn_parity.rs: one PPO minibatch on SB3 2.9.2's ActorCriticCnnPolicy.

usage: python ppo_cnn_parity.py IN.npz OUT.npz

IN holds rlx's policy weights (`w.<rlx name>`) and one minibatch (`obs` uint8 (B, 4, 84, 84), `actions`,
`old_log_prob`, `advantages`, `returns`, `old_values`) plus `settings` (clip_range, ent_coef, vf_coef,
max_grad_norm, lr). The script loads the weights into SB3's policy (Breakout's spaces, rl-zoo3's Atari setting:
CnnPolicy, orthogonal init, Adam eps 1e-5), computes the loss terms as SB3's `PPO.train` does for one minibatch
(advantage normalization, clipped surrogate, unclipped value loss, entropy bonus), the per-parameter gradients,
and one whole update (clip_grad_norm_, Adam step), and writes:
- `loss.policy`, `loss.value`, `loss.entropy`, `loss.total`, `loss.approx_kl`, `loss.clip_fraction` (scalars),
- `grad.<rlx name>` and `updated.<rlx name>` per parameter,
- `init_std.<rlx name>`: the per-layer weight std of SB3's own initialization (seed 0), for the init check.
"""
import sys

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from stable_baselines3.common.policies import ActorCriticCnnPolicy

# rlx's parameter names -> SB3's (NatureCNN: `cnn` is Conv, ReLU, Conv, ReLU, Conv, ReLU, Flatten; `linear` is
# Linear, ReLU; CnnPolicy has no MLP layers between the features and the heads).
NAMES = {
    "cnn.conv1": "features_extractor.cnn.0",
    "cnn.conv2": "features_extractor.cnn.2",
    "cnn.conv3": "features_extractor.cnn.4",
    "cnn.fc": "features_extractor.linear.0",
    "action_net": "action_net",
    "value_net": "value_net",
}


def sb3_name(rlx_name):
    layer, kind = rlx_name.rsplit(".", 1)
    return f"{NAMES[layer]}.{kind}"


def make_policy(lr):
    observation_space = gym.spaces.Box(0, 255, (4, 84, 84), np.uint8)
    return ActorCriticCnnPolicy(observation_space, gym.spaces.Discrete(4), lambda _: lr)


def main(inp, out):
    data = {k: torch.from_numpy(v) for k, v in np.load(inp).items()}
    settings = data["settings"].double().tolist()
    clip_range, ent_coef, vf_coef, max_grad_norm, lr = settings
    rlx_names = sorted(k[2:] for k in data if k.startswith("w."))

    torch.manual_seed(0)
    result = {}
    fresh = make_policy(lr)
    fresh_params = dict(fresh.named_parameters())
    for name in rlx_names:
        if name.endswith("weight"):
            result[f"init_std.{name}"] = fresh_params[sb3_name(name)].detach().std().reshape(1)

    policy = make_policy(lr)
    params = dict(policy.named_parameters())
    with torch.no_grad():
        for name in rlx_names:
            params[sb3_name(name)].copy_(data[f"w.{name}"])
    assert set(params) == {sb3_name(n) for n in rlx_names}, "every SB3 parameter has an rlx counterpart"

    obs = data["obs"]
    actions = data["actions"].long()
    policy.set_training_mode(True)
    values, log_prob, entropy = policy.evaluate_actions(obs, actions)
    values = values.flatten()
    advantages = data["advantages"]
    advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    ratio = torch.exp(log_prob - data["old_log_prob"])
    policy_loss = -torch.min(advantages * ratio, advantages * torch.clamp(ratio, 1 - clip_range, 1 + clip_range)).mean()
    value_loss = F.mse_loss(data["returns"], values)
    entropy_loss = -torch.mean(entropy)
    loss = policy_loss + ent_coef * entropy_loss + vf_coef * value_loss
    with torch.no_grad():
        log_ratio = log_prob - data["old_log_prob"]
        approx_kl = torch.mean((torch.exp(log_ratio) - 1) - log_ratio)
        clip_fraction = torch.mean((torch.abs(ratio - 1) > clip_range).float())
    for key, value in [("policy", policy_loss), ("value", value_loss), ("entropy", entropy_loss), ("total", loss),
                       ("approx_kl", approx_kl), ("clip_fraction", clip_fraction)]:
        result[f"loss.{key}"] = value.detach().double().reshape(1)

    policy.optimizer.zero_grad()
    loss.backward()
    for name in rlx_names:
        result[f"grad.{name}"] = params[sb3_name(name)].grad.detach().clone()
    torch.nn.utils.clip_grad_norm_(policy.parameters(), max_grad_norm)
    policy.optimizer.step()
    for name in rlx_names:
        result[f"updated.{name}"] = params[sb3_name(name)].detach().clone()
    np.savez(out, **{k: v.numpy() for k, v in result.items()})


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
