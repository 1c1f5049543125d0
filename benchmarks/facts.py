"""The date and machine lines the Python benchmark reports start with."""
import datetime
import os
import platform


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def machine():
    """'host (CPU model, N cores)'."""
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    return f"{platform.node()} ({cpu}, {os.cpu_count()} cores)"
