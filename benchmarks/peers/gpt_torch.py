"""The GPT of `rlx rlhf pretrain` in PyTorch eager, for `scripts/bench gpt-speed`: nanoGPT's model (pre-norm blocks,
fused causal attention, GELU MLP, tied output, nanoGPT's init) and training loop (random windows, AdamW with
decay on the 2-D parameters only, warm-up + cosine, clipping at 1.0) on the same token stream: the corpus split as
rlx splits it (the 90% byte cut moved to the end of its line) and encoded with the run's tokenizer.json.

Trains ITERS steps with the run's config.toml and prints one JSON line: tokens/s over the training loop (the final
held-out estimate included, as rlx's summary includes it), the last logged training loss and the held-out loss.

On `cuda` the model and each batch live on the GPU (the default device); the step losses stay there until the
end, so no step waits for the GPU.

usage: python gpt_torch.py RUN_DIR CORPUS_DIR ITERS [cpu|cuda]
"""
import glob
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
from tokenizers import Tokenizer


def corpus(folder):
    text = b"".join(open(p, "rb").read() for p in sorted(glob.glob(os.path.join(folder, "*_gut.txt"))))
    at = int(len(text) * 0.9)
    newline = text.find(b"\n", at)
    cut = len(text) if newline < 0 else newline + 1
    return text[:cut].decode("utf-8", "replace"), text[cut:].decode("utf-8", "replace")


class Block(nn.Module):
    def __init__(self, c, heads, bias):
        super().__init__()
        self.heads = heads
        self.ln_1, self.ln_2 = nn.LayerNorm(c, bias=bias), nn.LayerNorm(c, bias=bias)
        self.c_attn, self.attn_proj = nn.Linear(c, 3 * c, bias=bias), nn.Linear(c, c, bias=bias)
        self.c_fc, self.mlp_proj = nn.Linear(c, 4 * c, bias=bias), nn.Linear(4 * c, c, bias=bias)

    def forward(self, x):
        b, t, c = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(c, dim=2)
        q, k, v = (z.view(b, t, self.heads, c // self.heads).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.attn_proj(y.transpose(1, 2).contiguous().view(b, t, c))
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x))))


class Gpt(nn.Module):
    def __init__(self, vocab, block, layers, heads, c, bias):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, c), nn.Embedding(block, c)
        self.blocks = nn.ModuleList([Block(c, heads, bias) for _ in range(layers)])
        self.ln_f = nn.LayerNorm(c, bias=bias)
        for name, p in self.named_parameters():
            if p.dim() >= 2:
                std = 0.02 / math.sqrt(2 * layers) if name.endswith("proj.weight") else 0.02
                torch.nn.init.normal_(p, 0.0, std)
            elif name.endswith("bias"):
                torch.nn.init.zeros_(p)

    def forward(self, idx, targets):
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
        for block in self.blocks:
            x = block(x)
        logits = self.ln_f(x) @ self.wte.weight.T
        return F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.view(-1))


def main():
    run_dir, corpus_dir, iters = sys.argv[1], sys.argv[2], int(sys.argv[3])
    device = torch.device(sys.argv[4] if len(sys.argv) > 4 else "cpu")
    config = tomllib.load(open(os.path.join(run_dir, "config.toml"), "rb"))
    m, p = config["model"], config["pretrain"]
    tokenizer = Tokenizer.from_file(os.path.join(run_dir, "tokenizer.json"))
    train_text, val_text = corpus(corpus_dir)
    train = np.array(tokenizer.encode(train_text).ids, dtype=np.int64)
    val = np.array(tokenizer.encode(val_text).ids, dtype=np.int64)
    torch.set_default_device(device)
    torch.manual_seed(config.get("seed", 0))
    rng = np.random.default_rng(config.get("seed", 0))
    block, batch = m["block_size"], p["batch_size"]
    model = Gpt(tokenizer.get_vocab_size(), block, m["n_layer"], m["n_head"], m["n_embd"], m.get("bias", True))
    decay = [q for q in model.parameters() if q.dim() >= 2]
    no_decay = [q for q in model.parameters() if q.dim() < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": p["weight_decay"]},
                                   {"params": no_decay, "weight_decay": 0.0}],
                                  lr=p["learning_rate"], betas=(p["beta1"], p["beta2"]))

    def windows(tokens):
        ix = rng.integers(0, len(tokens) - block, batch)
        x = torch.from_numpy(np.stack([tokens[i:i + block] for i in ix]))
        y = torch.from_numpy(np.stack([tokens[i + 1:i + 1 + block] for i in ix]))
        return x.to(device), y.to(device)

    def lr_at(it):
        if it < p["warmup_iters"]:
            return p["learning_rate"] * (it + 1) / (p["warmup_iters"] + 1)
        ratio = min(1.0, (it - p["warmup_iters"]) / max(1, iters - p["warmup_iters"]))
        return p["min_lr"] + 0.5 * (1 + math.cos(math.pi * ratio)) * (p["learning_rate"] - p["min_lr"])

    losses = []
    start = time.perf_counter()
    for it in range(iters):
        for group in optimizer.param_groups:
            group["lr"] = lr_at(it)
        x, y = windows(train)
        loss = model(x, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), p["grad_clip"])
        optimizer.step()
        losses.append(loss.detach())
    model.eval()
    with torch.no_grad():
        val_loss = float(np.mean([model(*windows(val)).item() for _ in range(p["eval_iters"])]))
    wall = time.perf_counter() - start
    window = torch.stack(losses[-p.get("log_interval", 10):]).mean().item()
    print(json.dumps({"tokens_per_s": iters * batch * block / wall, "wall_s": wall, "train_loss": window,
                      "val_loss": val_loss, "torch": torch.__version__, "threads": torch.get_num_threads(),
                      "device": str(device)}))


if __name__ == "__main__":
    main()
