"""PyTorch eager peers of rlx's generative models, for `scripts/bench generative-speed` (and the networks that
models/tests/reference_generative.py checks rlx's against): the same networks
(models/src/vae.rs, dcgan.rs, unet.rs + ddpm.rs), data, batch, optimizer and update as rlx's presets
(presets/generative/fashion-*.toml), trained for EPOCHS epochs (default 1) over the first N Fashion-MNIST training
images. Prints {"model", "seconds_per_epoch" (the last epoch's), "epoch_seconds", "loss" (the last epoch's mean),
"torch", "threads", "device"} as JSON.

On `cuda` the networks and the images live on the GPU (the default device); the losses stay there until the
epoch ends, so no step waits for the GPU, and the epoch's time ends with a synchronize.

usage: python generative_torch.py vae|dcgan|ddpm N [cpu|cuda] [EPOCHS]
"""
import gzip
import json
import math
import os
import sys
import time
import tomllib

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))


def fashion_train(n):
    """The first n training images, (n, 1, 28, 28) f32 in [0, 1]."""
    data = os.environ.get("RLX_DATA") or os.path.join(os.environ.get("RLX_CACHE", os.path.expanduser("~/.cache/rlx")), "data")
    raw = gzip.open(os.path.join(data, "fashion-mnist/train-images-idx3-ubyte.gz")).read()
    images = np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(-1, 1, 28, 28)[:n]
    return torch.from_numpy(images.copy()).float() / 255


class Vae(nn.Module):
    """rlx's MLP VAE (models/src/vae.rs) with a Bernoulli decoder."""

    def __init__(self, hidden=400, latent=20):
        super().__init__()
        self.enc_fc, self.enc_mu, self.enc_log_var = nn.Linear(784, hidden), nn.Linear(hidden, latent), nn.Linear(hidden, latent)
        self.dec_fc, self.dec_out = nn.Linear(latent, hidden), nn.Linear(hidden, 784)

    def encode(self, x):
        h = F.relu(self.enc_fc(x.flatten(1)))
        return self.enc_mu(h), self.enc_log_var(h)

    def decode_logits(self, z):
        return self.dec_out(F.relu(self.dec_fc(z))).view(-1, 1, 28, 28)

    def loss(self, x):
        mu, log_var = self.encode(x)
        z = mu + torch.exp(0.5 * log_var) * torch.randn_like(mu)
        reconstruction = F.binary_cross_entropy_with_logits(self.decode_logits(z), x, reduction="none").flatten(1).sum(1)
        kl = 0.5 * (mu ** 2 + log_var.exp() - log_var - 1).sum(1)
        return (reconstruction + kl).mean()


class Generator(nn.Module):
    def __init__(self, latent=100, width=64):
        super().__init__()
        self.latent = latent
        self.project = nn.ConvTranspose2d(latent, 2 * width, 7, bias=False)
        self.bn1 = nn.BatchNorm2d(2 * width)
        self.up1 = nn.ConvTranspose2d(2 * width, width, 4, 2, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.up2 = nn.ConvTranspose2d(width, 1, 4, 2, 1)

    def forward(self, z):
        x = F.relu(self.bn1(self.project(z.view(len(z), -1, 1, 1))))
        return torch.tanh(self.up2(F.relu(self.bn2(self.up1(x)))))


class Discriminator(nn.Module):
    def __init__(self, width=64):
        super().__init__()
        self.conv1 = nn.Conv2d(1, width, 4, 2, 1)
        self.conv2 = nn.Conv2d(width, 2 * width, 4, 2, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(2 * width)
        self.head = nn.Conv2d(2 * width, 1, 7)

    def forward(self, x):
        x = F.leaky_relu(self.conv1(x), 0.2)
        return self.head(F.leaky_relu(self.bn2(self.conv2(x)), 0.2)).view(-1)


def dcgan_init(module):
    for name, p in module.named_parameters():
        if name.endswith(".bias"):
            nn.init.zeros_(p)
        elif "bn" in name:
            nn.init.normal_(p, 1.0, 0.02)
        else:
            nn.init.normal_(p, 0.0, 0.02)


def group_norm(channels):
    return nn.GroupNorm(next(g for g in range(8, 0, -1) if channels % g == 0), channels)


class ResBlock(nn.Module):
    def __init__(self, cin, cout, embed, dropout):
        super().__init__()
        self.norm1, self.conv1 = group_norm(cin), nn.Conv2d(cin, cout, 3, padding=1)
        self.step = nn.Linear(embed, cout)
        self.norm2, self.conv2 = group_norm(cout), nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else None
        self.dropout = dropout

    def forward(self, x, e):
        h = self.conv1(F.silu(self.norm1(x))) + self.step(e)[:, :, None, None]
        h = self.conv2(F.dropout(F.silu(self.norm2(h)), self.dropout, self.training))
        return h + (self.skip(x) if self.skip is not None else x)


class UNet(nn.Module):
    def __init__(self, c=32, dropout=0.1):
        super().__init__()
        self.c, e = c, 4 * c
        block = lambda cin, cout: ResBlock(cin, cout, e, dropout)
        self.embed_fc1, self.embed_fc2 = nn.Linear(c, e), nn.Linear(e, e)
        self.conv_in = nn.Conv2d(1, c, 3, padding=1)
        self.down0, self.pool0 = block(c, c), nn.Conv2d(c, c, 3, 2, 1)
        self.down1, self.pool1 = block(c, 2 * c), nn.Conv2d(2 * c, 2 * c, 3, 2, 1)
        self.down2, self.middle = block(2 * c, 2 * c), block(2 * c, 2 * c)
        self.up2, self.unpool1 = block(4 * c, 2 * c), nn.Conv2d(2 * c, 2 * c, 3, padding=1)
        self.up1, self.unpool0 = block(4 * c, 2 * c), nn.Conv2d(2 * c, 2 * c, 3, padding=1)
        self.up0 = block(3 * c, c)
        self.norm_out, self.conv_out = group_norm(c), nn.Conv2d(c, 1, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)

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


def main():
    model_name, n = sys.argv[1], int(sys.argv[2])
    device = torch.device(sys.argv[3] if len(sys.argv) > 3 else "cpu")
    epochs = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    with open(os.path.join(HERE, f"../../presets/generative/fashion-{model_name}.toml"), "rb") as f:
        p = tomllib.load(f)
    if "OMP_NUM_THREADS" not in os.environ:  # generative_cpu_time.py runs it with one thread
        torch.set_num_threads(os.cpu_count())
    torch.manual_seed(0)
    images = fashion_train(n).to(device)
    torch.set_default_device(device)
    batch = p.get("batch_size", 128)
    lr = p["learning_rate"]
    betas = (p.get("beta1", 0.9), p.get("beta2", 0.999))
    if model_name == "vae":
        vae = Vae(p.get("hidden", 400), p.get("latent", 20))
        opt = torch.optim.Adam(vae.parameters(), lr, betas=betas)

        def step(x):
            loss = vae.loss(x)
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss.detach()
    elif model_name == "dcgan":
        g, d = Generator(p["latent"], p["gan_width"]), Discriminator(p["gan_width"])
        dcgan_init(g)
        dcgan_init(d)
        opt_g, opt_d = torch.optim.Adam(g.parameters(), lr, betas=betas), torch.optim.Adam(d.parameters(), lr, betas=betas)

        def step(x):
            real = x * 2 - 1
            fake = g(torch.randn(len(x), g.latent))
            loss_d = F.softplus(-d(real)).mean() + F.softplus(d(fake.detach())).mean()
            opt_d.zero_grad()
            loss_d.backward()
            opt_d.step()
            loss_g = F.softplus(-d(fake)).mean()
            opt_g.zero_grad()
            loss_g.backward()
            opt_g.step()
            return loss_g.detach()
    else:
        unet = UNet(p["unet_channels"], p["dropout"])
        ema = UNet(p["unet_channels"], p["dropout"])
        ema.load_state_dict(unet.state_dict())
        opt = torch.optim.Adam(unet.parameters(), lr, betas=betas)
        steps = p["diffusion_steps"]
        betas_t = torch.linspace(1e-4 * 1000 / steps, 0.02 * 1000 / steps, steps, dtype=torch.float64)
        alpha_bar = torch.cumprod(1 - betas_t, 0)
        sqrt_ab, sqrt_1mab = alpha_bar.sqrt().float(), (1 - alpha_bar).sqrt().float()

        def step(x):
            x0 = x * 2 - 1
            t = torch.randint(steps, (len(x),))
            eps = torch.randn_like(x0)
            xt = sqrt_ab[t].view(-1, 1, 1, 1) * x0 + sqrt_1mab[t].view(-1, 1, 1, 1) * eps
            loss = (unet(xt, t) - eps).square().mean()
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(unet.parameters(), p.get("max_grad_norm", 1.0))
            opt.step()
            with torch.no_grad():
                for a, w in zip(ema.parameters(), unet.parameters()):
                    a.lerp_(w, 1 - p["ema_decay"])
            return loss.detach()
    epoch_seconds = []
    for _ in range(epochs):
        start = time.perf_counter()
        order = torch.randperm(n)
        losses = [step(images[order[i:i + batch]]) for i in range(0, n, batch)]
        loss = torch.stack(losses).mean().item()  # waits for the GPU's queued work
        epoch_seconds.append(time.perf_counter() - start)
    print(json.dumps({"model": model_name, "seconds_per_epoch": epoch_seconds[-1], "epoch_seconds": epoch_seconds,
                      "loss": loss, "torch": torch.__version__, "threads": torch.get_num_threads(),
                      "device": str(device)}))

if __name__ == "__main__":
    main()
