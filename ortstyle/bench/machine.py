"""The machine around a measurement: other processes' CPU use, peak memory, what it is."""

import os
import platform
import resource
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import psutil

import ortstyle

QUIET_SAMPLE_S = 0.5  # how long the machine's CPU use is sampled before a timed evaluation
QUIET_PATIENCE_S = 120  # the longest wait for a quiet machine before timing anyway
VERSIONED = ("onnxruntime", "onnx", "numpy", "scipy", "torch", "torchvision")


def reset_peak_rss() -> int:
    """This process's peak resident bytes so far; then, on Linux, restart the peak count."""
    peak = peak_rss_bytes()
    try:
        Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS (Linux 4.0 and later)
    except OSError:
        pass  # elsewhere the later peak still includes loading
    return peak


def peak_rss_bytes() -> int:
    """Peak resident bytes since the last reset_peak_rss (Linux) or since the start."""
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # Linux counts KiB


def _busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy (Linux /proc/stat; 0 elsewhere)."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return 0.0
    ticks = [int(f) for f in fields]
    idle = ticks[3] + ticks[4]  # idle and iowait
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def wait_until_quiet(share: float, patience_s: float = QUIET_PATIENCE_S) -> float:
    """Sleep until other processes use less than `share` of the CPU over QUIET_SAMPLE_S,
    at most `patience_s`; return the last share seen. The idle workers use none."""
    deadline = time.monotonic() + patience_s
    while True:
        busy, start = _busy_seconds(), time.monotonic()
        time.sleep(QUIET_SAMPLE_S)
        seen = (_busy_seconds() - busy) / ((time.monotonic() - start) * (os.cpu_count() or 1))
        if seen < share or time.monotonic() > deadline:
            return seen


def timed(evaluate) -> tuple:
    """Run `evaluate()`: (its result, milliseconds, share of the machine's CPU others used)."""
    busy, own, start = _busy_seconds(), time.process_time(), time.perf_counter()
    result = evaluate()
    wall = time.perf_counter() - start
    others = (_busy_seconds() - busy) - (time.process_time() - own)
    return result, wall * 1e3, max(others, 0.0) / (wall * (os.cpu_count() or 1))


def machine() -> dict:
    """The CPU, its cores, memory and load, and the versions that matter."""
    cpu = platform.processor()
    if Path("/proc/cpuinfo").is_file():
        names = [ln for ln in Path("/proc/cpuinfo").read_text().splitlines() if "model name" in ln]
        cpu = names[0].split(":", 1)[1].strip() if names else cpu
    versions = {"ortstyle": ortstyle.__version__, "python": platform.python_version()}
    for package in VERSIONED:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "cpu": cpu,
        "system": platform.platform(),
        "logical_cores": psutil.cpu_count(),
        "physical_cores": psutil.cpu_count(logical=False),
        "memory_bytes": psutil.virtual_memory().total,
        "versions": versions,
    }


def source_state() -> dict:
    """The git commit of the code measured and its files changed since (None outside git)."""
    git = ["git", "-C", str(Path(ortstyle.__file__).resolve().parent.parent)]
    try:
        commit, changed = (
            subprocess.run(git + args, capture_output=True, text=True, check=True).stdout
            for args in (["rev-parse", "HEAD"], ["status", "--porcelain", "--", "ortstyle"])
        )
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None}
    return {"commit": commit.strip(), "changed": [line[3:] for line in changed.splitlines()]}
