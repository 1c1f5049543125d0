"""The date and machine lines the Python benchmark reports start with."""
import datetime
import os
import platform


def now(timestamp=None):
    """'YYYY-MM-DD HH:MM UTC' of now, or of `timestamp` (seconds since the epoch, e.g. a file's mtime)."""
    moment = datetime.datetime.now(datetime.timezone.utc) if timestamp is None else \
        datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def machine():
    """'host (CPU model, N cores)'."""
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    return f"{platform.node()} ({cpu}, {os.cpu_count()} cores)"
