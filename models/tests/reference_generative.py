"""Reference values for rlx's generative models (models/tests/generative_parity.rs), from PyTorch 2.11.0.

Each network is built in PyTorch with rlx's layer names, every trainable parameter is filled from its name by the
rule the supervised parity test uses (`fill`), and a fixed batch goes through with fixed noise. Printed: the VAE's
mean reconstruction term and KL per image (nats) for the MLP and the convolutional VAE with a Bernoulli decoder,
and the MLP's with a Gaussian decoder (sigma 0.1); DCGAN's generator and discriminator outputs (training mode, batch
statistics) and both losses; the U-Net's noise prediction at fixed steps (training mode, dropout 0). The Rust test
holds the numbers.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


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


class MlpVae(nn.Module):
    def __init__(self, hidden=32, latent=5):
        super().__init__()
        self.enc_fc, self.enc_mu, self.enc_log_var = nn.Linear(784, hidden), nn.Linear(hidden, latent), nn.Linear(hidden, latent)
        self.dec_fc, self.dec_out = nn.Linear(latent, hidden), nn.Linear(hidden, 784)

    def encode(self, x):
        h = F.relu(self.enc_fc(x.flatten(1)))
        return self.enc_mu(h), self.enc_log_var(h)

    def decode_logits(self, z):
        return self.dec_out(F.relu(self.dec_fc(z))).view(-1, 1, 28, 28)


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


class Generator(nn.Module):
    def __init__(self, latent=5, width=8):
        super().__init__()
        self.project = nn.ConvTranspose2d(latent, 2 * width, 7, bias=False)
        self.bn1 = nn.BatchNorm2d(2 * width)
        self.up1 = nn.ConvTranspose2d(2 * width, width, 4, 2, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.up2 = nn.ConvTranspose2d(width, 1, 4, 2, 1)

    def forward(self, z):
        x = F.relu(self.bn1(self.project(z.view(len(z), -1, 1, 1))))
        return torch.tanh(self.up2(F.relu(self.bn2(self.up1(x)))))


class Discriminator(nn.Module):
    def __init__(self, width=8):
        super().__init__()
        self.conv1 = nn.Conv2d(1, width, 4, 2, 1)
        self.conv2 = nn.Conv2d(width, 2 * width, 4, 2, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(2 * width)
        self.head = nn.Conv2d(2 * width, 1, 7)

    def forward(self, x):
        x = F.leaky_relu(self.conv1(x), 0.2)
        return self.head(F.leaky_relu(self.bn2(self.conv2(x)), 0.2)).view(-1)


def group_norm(channels):
    return nn.GroupNorm(next(g for g in range(8, 0, -1) if channels % g == 0), channels)


class ResBlock(nn.Module):
    def __init__(self, cin, cout, embed):
        super().__init__()
        self.norm1, self.conv1 = group_norm(cin), nn.Conv2d(cin, cout, 3, padding=1)
        self.step = nn.Linear(embed, cout)
        self.norm2, self.conv2 = group_norm(cout), nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x, e):
        h = self.conv1(F.silu(self.norm1(x))) + self.step(e)[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return h + (self.skip(x) if self.skip is not None else x)


class UNet(nn.Module):
    def __init__(self, c=8):
        super().__init__()
        self.c, e = c, 4 * c
        self.embed_fc1, self.embed_fc2 = nn.Linear(c, e), nn.Linear(e, e)
        self.conv_in = nn.Conv2d(1, c, 3, padding=1)
        self.down0, self.pool0 = ResBlock(c, c, e), nn.Conv2d(c, c, 3, 2, 1)
        self.down1, self.pool1 = ResBlock(c, 2 * c, e), nn.Conv2d(2 * c, 2 * c, 3, 2, 1)
        self.down2, self.middle = ResBlock(2 * c, 2 * c, e), ResBlock(2 * c, 2 * c, e)
        self.up2, self.unpool1 = ResBlock(4 * c, 2 * c, e), nn.Conv2d(2 * c, 2 * c, 3, padding=1)
        self.up1, self.unpool0 = ResBlock(4 * c, 2 * c, e), nn.Conv2d(2 * c, 2 * c, 3, padding=1)
        self.up0 = ResBlock(3 * c, c, e)
        self.norm_out, self.conv_out = group_norm(c), nn.Conv2d(c, 1, 3, padding=1)

    def forward(self, x, t):
        half = self.c // 2
        frequencies = torch.exp(torch.arange(half) * (-math.log(10000) / (half - 1)))
        angles = t.float()[:, None] * frequencies[None]
        e = self.embed_fc2(F.silu(self.embed_fc1(torch.cat([angles.sin(), angles.cos()], 1))))
        h1 = self.down0(self.conv_in(x), e)
        h2 = self.down1(self.pool0(h1), e)
        h3 = self.down2(self.pool1(h2), e)
        u2 = self.up2(torch.cat([self.middle(h3, e), h3], 1), e)
        u1 = self.up1(torch.cat([self.unpool1(F.interpolate(u2, scale_factor=2.0)), h2], 1), e)
        u0 = self.up0(torch.cat([self.unpool0(F.interpolate(u1, scale_factor=2.0)), h1], 1), e)
        return self.conv_out(F.silu(self.norm_out(u0)))


torch.manual_seed(0)
x, eps = images(), noise(4, 5)
for name, model, likelihood in [("mlp", MlpVae(), "bernoulli"), ("conv", ConvVae(), "bernoulli"),
                                ("mlp_gaussian", MlpVae(), "gaussian")]:
    fill(model)
    reconstruction, kl = elbo_terms(model, x, eps, likelihood)
    print(f"{name}: reconstruction {reconstruction:.6f} kl {kl:.7f}")

generator, discriminator = Generator(), Discriminator()
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
unet = UNet()
fill(unet)
predicted = unet(x * 2 - 1, torch.tensor([0, 10, 500, 999]))
print(f"unet: mean {predicted.mean().item():.7f} abs mean {predicted.abs().mean().item():.7f} "
      f"first {predicted.flatten()[:3].tolist()}")
