"""Reference numbers for rlx's GPT (models/tests/gpt.rs), from PyTorch 2.11.0.

A GPT of nanoGPT's shape written here in plain PyTorch (pre-norm blocks, causal self-attention, GELU MLP, final
LayerNorm, output tied to the token embedding) with rlx's parameter names; every parameter is filled from its name
by the rule both sides share (`fill`), a fixed batch goes through in training mode (dropout 0), and the mean
cross-entropy (targets of -1 ignored) and the global norm of its gradient are printed. The Rust test holds them.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

VOCAB, BLOCK, LAYERS, HEADS, EMBD = 11, 16, 2, 2, 8


def fill(model):
    """value[k] = 0.3 * sin(0.37 k + 0.013 * sum of the name's bytes), k the flat index."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            salt = 0.013 * sum(name.encode())
            k = torch.arange(p.numel(), dtype=torch.float64)
            p.copy_((0.3 * torch.sin(0.37 * k + salt)).reshape(p.shape).to(p.dtype))


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.c_attn, self.c_proj = nn.Linear(EMBD, 3 * EMBD), nn.Linear(EMBD, EMBD)

    def forward(self, x):
        b, t, c = x.shape
        q, k, v = self.c_attn(x).split(c, dim=2)
        q, k, v = (z.view(b, t, HEADS, c // HEADS).transpose(1, 2) for z in (q, k, v))
        att = (q @ k.transpose(-2, -1)) / math.sqrt(c // HEADS)
        att = att.masked_fill(torch.ones(t, t).tril() == 0, float("-inf")).softmax(-1)
        return self.c_proj((att @ v).transpose(1, 2).reshape(b, t, c))


class Mlp(nn.Module):
    def __init__(self):
        super().__init__()
        self.c_fc, self.c_proj = nn.Linear(EMBD, 4 * EMBD), nn.Linear(4 * EMBD, EMBD)

    def forward(self, x):
        return self.c_proj(F.gelu(self.c_fc(x)))


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln_1, self.attn, self.ln_2, self.mlp = nn.LayerNorm(EMBD), Attention(), nn.LayerNorm(EMBD), Mlp()

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class Gpt(nn.Module):
    def __init__(self):
        super().__init__()
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(VOCAB, EMBD), wpe=nn.Embedding(BLOCK, EMBD),
            h=nn.ModuleList([Block() for _ in range(LAYERS)]), ln_f=nn.LayerNorm(EMBD)))

    def forward(self, idx):
        t = idx.shape[1]
        x = self.transformer.wte(idx) + self.transformer.wpe(torch.arange(t))
        for block in self.transformer.h:
            x = block(x)
        return self.transformer.ln_f(x) @ self.transformer.wte.weight.T


model = Gpt()
fill(model)
b, t = torch.arange(2).unsqueeze(1), torch.arange(10).unsqueeze(0)
tokens = (7 * b + 3 * t) % VOCAB
targets = (5 * b + 2 * t + 1) % VOCAB
targets[0, :3] = -1
logits = model(tokens)
loss = F.cross_entropy(logits.reshape(-1, VOCAB), targets.reshape(-1), ignore_index=-1)
loss.backward()
norm = torch.sqrt(sum((p.grad ** 2).sum() for p in model.parameters()))
print(f"loss {loss.item():.7f} grad_norm {norm.item():.7f} logits[1, 9, :3] {logits[1, 9, :3].tolist()}")
