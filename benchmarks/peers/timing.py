"""The timing loop the peer scripts share (the Python twin of `rate` in benchmarks/src/lib.rs)."""
import time


def rate(step, seconds, chunk=64):
    """Calls `step(i)` for i = 0, 1, ... in chunks of `chunk` for about `seconds`; returns calls per second."""
    n, start = 0, time.perf_counter()
    while True:
        for _ in range(chunk):
            step(n)
            n += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return n / elapsed
