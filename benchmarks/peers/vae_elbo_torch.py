"""The held-out ELBO that the MLP VAE of PyTorch's examples (examples/vae: 784-400-20, ReLU, Bernoulli decoder on
grey levels, Adam 1e-3, batch 128) reaches on rlx's data, as the published reference for rlx's `fashion-vae` and
`mnist-vae` presets: the same network (generative_torch.py's Vae), data split, batch, optimizer and epochs as the
preset, trained in PyTorch eager from SEED. The test ELBO is the mean over the held-out images of one reparameterized
sample's `log p(x|z) - KL(q(z|x) || p(z))`, as rlx's `rlx generative eval` reports it (and as PyTorch's example
prints its "test set loss", with the sign flipped).

Prints the held-out ELBO after each epoch, then one JSON line {"task", "seed", "epochs", "test_elbo", "torch"}.

usage: python vae_elbo_torch.py fashion-vae|mnist-vae [--seed 0] [--epochs N]
"""
import argparse
import json
import os
import sys
import tomllib

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from generative_torch import Vae  # noqa: E402
from supervised_torch import image_split  # noqa: E402


@torch.no_grad()
def test_elbo(vae, images, batch=1000):
    """Mean held-out ELBO in nats per image (one z sample per image)."""
    total = 0.0
    for i in range(0, len(images), batch):
        x = images[i:i + batch]
        total += -vae.loss(x).item() * len(x)
    return total / len(images)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("task", choices=["fashion-vae", "mnist-vae"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int)
    args = parser.parse_args()
    with open(os.path.join(HERE, f"../../presets/generative/{args.task}.toml"), "rb") as f:
        p = tomllib.load(f)
    epochs = args.epochs or p["epochs"]
    torch.set_num_threads(os.cpu_count())
    torch.manual_seed(args.seed)
    train, _, test, _ = image_split("mnist" if args.task == "mnist-vae" else "fashion-mnist")
    train, test = (x.float().unsqueeze(1) / 255 for x in (train, test))  # (N, 1, 28, 28) in [0, 1]
    vae = Vae(p.get("hidden", 400), p.get("latent", 20))
    opt = torch.optim.Adam(vae.parameters(), p["learning_rate"])
    batch = p.get("batch_size", 128)
    for epoch in range(1, epochs + 1):
        for index in torch.randperm(len(train)).split(batch):
            loss = vae.loss(train[index])
            opt.zero_grad()
            loss.backward()
            opt.step()
        elbo = test_elbo(vae, test)
        print(f"epoch {epoch}: held-out ELBO {elbo:.2f} nats/image", file=sys.stderr)
    print(json.dumps({"task": args.task, "seed": args.seed, "epochs": epochs, "test_elbo": elbo,
                      "torch": torch.__version__}))


if __name__ == "__main__":
    main()
