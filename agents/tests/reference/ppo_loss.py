"""Reference values for agents/tests/ppo_loss.rs: SB3 2.x's PPO.train loss terms on one fixed minibatch,
computed with PyTorch 2.11.0 (the formulas below are copied from stable_baselines3/ppo/ppo.py).
Run with the project's venv python: python agents/tests/reference/ppo_loss.py"""
import torch
import torch.nn.functional as F

log_prob = torch.tensor([-0.5, -1.2, -0.3, -2.0, -0.9, -0.1])
old_log_prob = torch.tensor([-0.6, -1.0, -0.3, -1.5, -1.3, -0.4])
advantages = torch.tensor([1.0, -0.5, 2.0, 0.3, -1.5, 0.8])
values = torch.tensor([0.5, 1.5, -0.2, 2.2, 0.0, 1.1])
old_values = torch.tensor([0.4, 1.0, 0.1, 2.0, 0.3, 1.0])
returns = torch.tensor([1.0, 1.2, 0.5, 2.5, -0.5, 1.0])
entropy = torch.tensor([0.6, 0.7, 0.5, 0.9, 0.8, 0.65])
clip_range, clip_range_vf, ent_coef, vf_coef = 0.2, 0.3, 0.01, 0.5

for normalize_advantage in (True, False):
    for use_vf_clip in (False, True):
        adv = (advantages - advantages.mean()) / (advantages.std() + 1e-8) if normalize_advantage else advantages
        ratio = torch.exp(log_prob - old_log_prob)
        policy_loss_1 = adv * ratio
        policy_loss_2 = adv * torch.clamp(ratio, 1 - clip_range, 1 + clip_range)
        policy_loss = -torch.min(policy_loss_1, policy_loss_2).mean()
        clip_fraction = torch.mean((torch.abs(ratio - 1) > clip_range).float()).item()
        values_pred = old_values + torch.clamp(values - old_values, -clip_range_vf, clip_range_vf) if use_vf_clip else values
        value_loss = F.mse_loss(returns, values_pred)
        entropy_loss = -torch.mean(entropy)
        loss = policy_loss + ent_coef * entropy_loss + vf_coef * value_loss
        log_ratio = log_prob - old_log_prob
        approx_kl = torch.mean((torch.exp(log_ratio) - 1) - log_ratio).item()
        print(f"normalize_advantage={normalize_advantage} vf_clip={use_vf_clip}: policy_loss={policy_loss.item():.7f} "
              f"value_loss={value_loss.item():.7f} entropy_loss={entropy_loss.item():.7f} loss={loss.item():.7f} "
              f"approx_kl={approx_kl:.7f} clip_fraction={clip_fraction:.7f}")
