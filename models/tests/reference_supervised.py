"""Reference losses for rlx's supervised networks (models/tests/supervised_parity.rs), from PyTorch 2.11.0.

Each network is built in PyTorch with rlx's layer names, every trainable parameter is filled from its name by the
rule both sides share (`fill`), a fixed batch goes through in training mode (dropout 0, batch norm on batch
statistics) and the mean cross-entropy and output shape are printed. The Rust test holds the numbers.
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
    return ((i % 17) / 17).reshape(batch, 1, 28, 28).float(), torch.arange(batch) % 10


class Mlp(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc0, self.fc1, self.out = nn.Linear(784, 32), nn.Linear(32, 16), nn.Linear(16, 10)

    def forward(self, x):
        return self.out(F.relu(self.fc1(F.relu(self.fc0(x.flatten(1))))))


class LeNet5(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(1, 6, 5, padding=2), nn.Conv2d(6, 16, 5)
        self.fc1, self.fc2, self.fc3 = nn.Linear(400, 120), nn.Linear(120, 84), nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x.flatten(1))))))


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.project = stride != 1 or cin != cout
        if self.project:
            self.proj = nn.Conv2d(cin, cout, 1, stride, bias=False)
            self.proj_bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(y + (self.proj_bn(self.proj(x)) if self.project else x))


class ResNet(nn.Module):
    def __init__(self, blocks):
        super().__init__()
        self.stem, self.stem_bn = nn.Conv2d(1, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16)
        cin = 16
        for stage, width in enumerate([16, 32, 64]):
            stage_module = nn.Module()
            for b in range(blocks):
                setattr(stage_module, f"block{b}", Block(cin, width, 2 if stage > 0 and b == 0 else 1))
                cin = width
            setattr(self, f"stage{stage}", stage_module)
        self.blocks = blocks
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        x = F.relu(self.stem_bn(self.stem(x)))
        for stage in range(3):
            for b in range(self.blocks):
                x = getattr(getattr(self, f"stage{stage}"), f"block{b}")(x)
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


class CharLstm(nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(20, 8)
        self.lstm = nn.LSTM(8, 16, 2, batch_first=True)
        self.decoder = nn.Linear(16, 20)

    def forward(self, tokens):
        out, _ = self.lstm(self.embedding(tokens))
        return self.decoder(out)


torch.manual_seed(0)
x, y = images()
for name, model in [("mlp", Mlp()), ("lenet", LeNet5()), ("resnet", ResNet(2))]:
    fill(model)
    model.train()
    logits = model(x)
    print(name, list(logits.shape), f"{F.cross_entropy(logits, y).item():.7f}")

lm = CharLstm()
fill(lm)
b, t = torch.meshgrid(torch.arange(2), torch.arange(12), indexing="ij")
tokens, targets = (b * 7 + t * 3) % 20, (b * 5 + t * 2 + 1) % 20
logits = lm(tokens)
print("char_lstm", list(logits.shape), f"{F.cross_entropy(logits.reshape(-1, 20), targets.reshape(-1)).item():.7f}")


class Seq2Seq(nn.Module):
    """rlx's encoder-decoder (models/src/seq2seq.rs) with its layer names; teacher-forced logits."""

    def __init__(self, source_vocab, target_vocab, embed, hidden, attention):
        super().__init__()
        self.attention, self.hidden = attention, hidden
        self.source_embedding = nn.Embedding(source_vocab, embed)
        self.target_embedding = nn.Embedding(target_vocab, embed)
        self.encoder_forward = nn.GRU(embed, hidden, batch_first=True)
        self.encoder_backward = nn.GRU(embed, hidden, batch_first=True)
        self.bridge = nn.Linear(2 * hidden, hidden)
        self.decoder = nn.GRU(embed + (2 * hidden if attention == "bahdanau" else hidden), hidden, batch_first=True)
        self.attention_query = nn.Linear(hidden, hidden, bias=False)
        self.attention_keys = nn.Linear(2 * hidden, hidden, bias=False)
        self.attention_v = nn.Linear(hidden, 1, bias=False)
        self.combine = nn.Linear(3 * hidden, hidden, bias=False)
        self.out = nn.Linear(3 * hidden + embed if attention == "bahdanau" else hidden, target_vocab)

    def attend(self, keys, states, mask, h):
        if self.attention == "bahdanau":
            scores = self.attention_v(torch.tanh(keys + self.attention_query(h).unsqueeze(1))).squeeze(-1)
        else:
            scores = (keys @ h.unsqueeze(-1)).squeeze(-1)
        weights = scores.masked_fill(~mask, float("-inf")).softmax(-1)
        return (weights.unsqueeze(1) @ states).squeeze(1)

    def encode(self, source):
        """Both directions over the real characters only, as pack_padded_sequence would run them."""
        mask = source != 0
        lengths = mask.sum(1)
        forward, backward = [], []
        finals = []
        x = self.source_embedding(source)
        for b in range(source.shape[0]):
            n = int(lengths[b])
            f, h_f = self.encoder_forward(x[b:b + 1, :n])
            r, h_b = self.encoder_backward(x[b:b + 1, :n].flip(1))
            pad = torch.zeros(1, source.shape[1] - n, self.hidden)
            forward.append(torch.cat([f, pad], 1))
            backward.append(torch.cat([r.flip(1), pad], 1))
            finals.append(torch.cat([h_f[0], h_b[0]], -1))
        states = torch.cat([torch.cat(forward), torch.cat(backward)], -1)
        return states, mask, torch.cat(finals)

    def forward(self, source, target):
        states, mask, finals = self.encode(source)
        state = torch.tanh(self.bridge(finals)).unsqueeze(0)
        keys = self.attention_keys(states)
        previous = torch.full((source.shape[0],), 1)
        feed = torch.zeros(source.shape[0], self.hidden)
        logits = []
        for t in range(target.shape[1]):
            y = self.target_embedding(previous)
            if self.attention == "bahdanau":
                context = self.attend(keys, states, mask, state[0])
                out, state = self.decoder(torch.cat([y, context], -1).unsqueeze(1), state)
                h = out.squeeze(1)
                logits.append(self.out(torch.cat([h, context, y], -1)))
            else:
                out, state = self.decoder(torch.cat([y, feed], -1).unsqueeze(1), state)
                h = out.squeeze(1)
                context = self.attend(keys, states, mask, h)
                feed = torch.tanh(self.combine(torch.cat([context, h], -1)))
                logits.append(self.out(feed))
            previous = target[:, t]
        return torch.stack(logits, 1)


# Two sources, the second padded (PAD = 0); targets end in EOS (2) and the shorter one is padded.
source = torch.tensor([[3, 4, 5, 6, 7], [8, 3, 9, 0, 0]])
target = torch.tensor([[4, 5, 6, 2], [7, 2, 0, 0]])
for attention in ["bahdanau", "luong"]:
    model = Seq2Seq(10, 8, 6, 12, attention)
    fill(model)
    logits = model(source, target)
    loss = F.cross_entropy(logits.reshape(-1, 8), target.reshape(-1), ignore_index=0)
    print(f"seq2seq_{attention}", list(logits.shape), f"{loss.item():.7f}")
