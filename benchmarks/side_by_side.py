"""What the side-by-side benchmark drivers share: rounds that run rlx and then its Python peer (this machine's speed
drifts, so the two sides alternate instead of one running all its rounds first), and the kept records beside a
report (OUT.json next to OUT.md: one record per task, so measuring one task again keeps the others' rows).

Used by the wall-clock drivers (supervised_speed.py, generative_speed.py, gpt_speed.py) and, for the records, by
the CPU-time ones (cpu_time.py).
"""
import json
import os
import subprocess
import sys
import time


def alternate(label, rounds, run_rlx, run_peer, budget_s=None):
    """Up to `rounds` rounds of `run_rlx()` then `run_peer()`; no new round starts once `budget_s` seconds have
    passed. A failed command (CalledProcessError: it has said why on stderr) ends the rounds, so the next task of a
    driver still gets measured. Returns the results of the complete rounds: ([rlx...], [peer...])."""
    ours, theirs = [], []
    started = time.perf_counter()
    for r in range(rounds):
        if r > 0 and budget_s is not None and time.perf_counter() - started > budget_s:
            break
        try:
            print(f"== {label} round {r + 1}: rlx", file=sys.stderr)
            ours.append(run_rlx())
            print(f"== {label} round {r + 1}: PyTorch", file=sys.stderr)
            theirs.append(run_peer())
        except subprocess.CalledProcessError as e:
            print(f"== {label}: {e}", file=sys.stderr)
            break
    return ours[:len(theirs)], theirs


def kept_records(out):
    """The records kept beside OUT.md (OUT.json): the path they live at and {name: record}."""
    path = os.path.splitext(out)[0] + ".json"
    return path, (json.load(open(path)) if os.path.exists(path) else {})


def write_records(path, kept):
    """Writes `kept` to `path` whole or not at all (a stopped run leaves the old records)."""
    with open(path + ".tmp", "w") as f:
        json.dump(kept, f, indent=1)
        f.write("\n")
    os.replace(path + ".tmp", path)
