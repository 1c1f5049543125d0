"""The ceiling of DQN's learner on this CPU: one gradient step of NatureCNN DQN in PyTorch eager (batch 32, Double
DQN's online forward on observations and next observations as one batch of 64, a target forward on the next
observations, Huber loss, Adam), in f32 and bf16 mixed precision, with contiguous (NCHW) and channels-last (NHWC)
layouts for oneDNN. Nothing else runs: no envs, no replay sampling. At 4 agent steps per gradient step, 4000 / ms
per step is the agent steps/s a learner that never waits could sustain; SB3's DQN and rlx's both sit below it.

usage: python dqn_learner_step.py [ROUNDS]   (prints one JSON line: ms per gradient step, median of ROUNDS)
"""
import json
import statistics
import sys
import time

import torch
import torch.nn.functional as F


def nature_cnn_params(n_actions=6):
    shapes = [(32, 4, 8, 8), (64, 32, 4, 4), (64, 64, 3, 3), (512, 3136), (n_actions, 512)]
    weights = [(torch.randn(s) * 0.02).requires_grad_() for s in shapes]
    biases = [torch.zeros(s[0], requires_grad=True) for s in shapes]
    return weights, biases


def q_values(obs, weights, biases, kind, channels_last):
    """(B, 4, 84, 84) uint8 -> (B, n_actions) f32; the weights are cast per call, as autocast does."""
    layout = torch.channels_last if channels_last else torch.contiguous_format
    x = (obs.to(kind) / 255.0).contiguous(memory_format=layout)
    for w, b, stride in zip(weights[:3], biases[:3], (4, 2, 1)):
        x = F.conv2d(x, w.to(kind).contiguous(memory_format=layout), b.to(kind), stride=stride).relu()
    x = F.linear(x.flatten(1), weights[3].to(kind), biases[3].to(kind)).relu().float()
    return F.linear(x, weights[4], biases[4])


def gradient_step(obs, next_obs, weights, biases, optimizer, kind, channels_last):
    q = q_values(torch.cat([obs, next_obs]), weights, biases, kind, channels_last)  # (64, A)
    with torch.no_grad():
        target_q = q_values(next_obs, weights, biases, kind, channels_last)  # (32, A)
        best = q[32:].argmax(1, keepdim=True)
        target = 0.99 * target_q.gather(1, best).squeeze(1)
    loss = F.smooth_l1_loss(q[:32, 0], target)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    torch.manual_seed(0)
    obs = torch.randint(0, 256, (32, 4, 84, 84), dtype=torch.uint8)
    next_obs = torch.randint(0, 256, (32, 4, 84, 84), dtype=torch.uint8)
    variants = [(k, cl) for k in (torch.float32, torch.bfloat16) for cl in (False, True)]
    times = {v: [] for v in variants}
    for _ in range(rounds):  # interleaved: this machine's speed drifts
        for kind, channels_last in variants:
            weights, biases = nature_cnn_params()
            optimizer = torch.optim.Adam(weights + biases, lr=1e-4)
            for _ in range(5):
                gradient_step(obs, next_obs, weights, biases, optimizer, kind, channels_last)
            start, n = time.perf_counter(), 40
            for _ in range(n):
                gradient_step(obs, next_obs, weights, biases, optimizer, kind, channels_last)
            times[(kind, channels_last)].append((time.perf_counter() - start) / n * 1000)
    print(json.dumps({
        "torch": torch.__version__, "threads": torch.get_num_threads(),
        "ms_per_gradient_step": {f"{str(k).split('.')[1]} {'channels_last' if cl else 'nchw'}": statistics.median(t)
                                 for (k, cl), t in times.items()},
    }))


if __name__ == "__main__":
    main()
