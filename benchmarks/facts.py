"""The date and machine lines the Python benchmark reports start with."""
import datetime
import os
import platform
import subprocess


def now(timestamp=None):
    """'YYYY-MM-DD HH:MM UTC' of now, or of `timestamp` (seconds since the epoch, e.g. a file's mtime)."""
    moment = datetime.datetime.now(datetime.timezone.utc) if timestamp is None else \
        datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def machine(device="cpu"):
    """'host (CPU model, N cores)', and the GPU's name from nvidia-smi for `device` cuda."""
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    host = f"{platform.node()} ({cpu}, {os.cpu_count()} cores)"
    if device != "cuda":
        return host
    try:
        gpu = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, check=True).stdout.strip().replace(", ", ", driver ")
    except (OSError, subprocess.CalledProcessError):
        gpu = "a CUDA GPU"
    return f"{host} with {gpu}"
