"""Reference values for rlx's generative models (models/tests/generative_parity.rs), from PyTorch 2.11.0.

Each network is built in PyTorch with rlx's layer names, every trainable parameter is filled from its name by the
rule the supervised parity test uses (`fill`), and a fixed batch goes through with fixed noise. Printed: the VAE's
mean reconstruction term and KL per image (nats) for the MLP and the convolutional VAE with a Bernoulli decoder,
and the MLP's with a Gaussian decoder (sigma 0.1); DCGAN's generator and discriminator outputs (training mode, batch
statistics) and both losses; the U-Net's noise prediction at fixed steps (training mode, dropout 0). The Rust test
holds the numbers.
"""
import math

import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

# The MLP VAE, DCGAN and the U-Net as the PyTorch speed peer defines them.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../benchmarks/peers"))
from generative_torch import Discriminator, Generator, UNet, Vae as MlpVae  # noqa: E402


def fill(model):
    """value[k] = 0.05 * sin(0.37 k + 0.013 * sum of the name's bytes), k the flat index."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            salt = 0.013 * sum(name.encode())
            k = torch.arange(p.numel(), dtype=torch.float64)
            p.copy_((0.05 * torch.sin(0.37 * k + salt)).reshape(p.shape).to(p.dtype))


def images(batch=4):
    i = torch.arange(batch * 784, dtype=torch.float64)
    return ((i % 17) / 17).reshape(batch, 1, 28, 28).float()


def noise(batch, latent):
    b, z = torch.meshgrid(torch.arange(batch, dtype=torch.float64), torch.arange(latent, dtype=torch.float64),
                          indexing="ij")
    return torch.sin(0.5 * b + 0.3 * z).float()


class ConvVae(nn.Module):
    def __init__(self, hidden=32, latent=5):
        super().__init__()
        self.enc_conv1, self.enc_conv2 = nn.Conv2d(1, 32, 4, 2, 1), nn.Conv2d(32, 64, 4, 2, 1)
        self.enc_fc = nn.Linear(64 * 7 * 7, hidden)
        self.enc_mu, self.enc_log_var = nn.Linear(hidden, latent), nn.Linear(hidden, latent)
        self.dec_fc, self.dec_fc2 = nn.Linear(latent, hidden), nn.Linear(hidden, 64 * 7 * 7)
        self.dec_deconv1, self.dec_deconv2 = nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.ConvTranspose2d(32, 1, 4, 2, 1)

    def encode(self, x):
        h = F.relu(self.enc_fc(F.relu(self.enc_conv2(F.relu(self.enc_conv1(x)))).flatten(1)))
        return self.enc_mu(h), self.enc_log_var(h)

    def decode_logits(self, z):
        h = F.relu(self.dec_fc2(F.relu(self.dec_fc(z)))).view(-1, 64, 7, 7)
        return self.dec_deconv2(F.relu(self.dec_deconv1(h)))


def elbo_terms(model, x, eps, likelihood="bernoulli", sigma=0.1):
    mu, log_var = model.encode(x)
    z = mu + torch.exp(0.5 * log_var) * eps
    logits = model.decode_logits(z)
    if likelihood == "bernoulli":
        reconstruction = F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)
    else:
        reconstruction = ((torch.sigmoid(logits) - x) ** 2).flatten(1).sum(1) / (2 * sigma ** 2) \
            + 784 * 0.5 * math.log(2 * math.pi * sigma ** 2)
    kl = 0.5 * (mu ** 2 + log_var.exp() - log_var - 1).sum(1)
    return reconstruction.mean().item(), kl.mean().item()


torch.manual_seed(0)
x, eps = images(), noise(4, 5)
for name, model, likelihood in [("mlp", MlpVae(32, 5), "bernoulli"), ("conv", ConvVae(), "bernoulli"),
                                ("mlp_gaussian", MlpVae(32, 5), "gaussian")]:
    fill(model)
    reconstruction, kl = elbo_terms(model, x, eps, likelihood)
    print(f"{name}: reconstruction {reconstruction:.6f} kl {kl:.7f}")

generator, discriminator = Generator(5, 8), Discriminator(8)
fill(generator)
fill(discriminator)
fake = generator(eps)
real_logits, fake_logits = discriminator(x * 2 - 1), discriminator(fake)
print(f"dcgan: fake mean {fake.mean().item():.7f} fake abs mean {fake.abs().mean().item():.7f} "
      f"real logits {[round(v, 6) for v in real_logits.tolist()]} fake logits {[round(v, 6) for v in fake_logits.tolist()]}")
d_loss = F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()
g_loss = F.softplus(-fake_logits).mean()
hinge_d = F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()
print(f"dcgan losses: d {d_loss.item():.7f} g {g_loss.item():.7f} hinge d {hinge_d.item():.7f} hinge g {-fake_logits.mean().item():.7f}")
unet = UNet(8, 0.0)
fill(unet)
predicted = unet(x * 2 - 1, torch.tensor([0, 10, 500, 999]))
print(f"unet: mean {predicted.mean().item():.7f} abs mean {predicted.abs().mean().item():.7f} "
      f"first {predicted.flatten()[:3].tolist()}")
