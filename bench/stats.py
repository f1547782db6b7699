"""Percentiles, CPU accounting from /proc, and the machine the figures were measured on."""

from __future__ import annotations

import math
import os
import platform
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def ms(seconds: float) -> str:
    return "n/a" if math.isnan(seconds) else f"{seconds * 1000:.1f}"


@dataclass
class Latencies:
    """Latency samples in seconds."""

    samples: list[float] = field(default_factory=list)

    def add(self, seconds: float) -> None:
        self.samples.append(seconds)

    @property
    def p50(self) -> float:
        return percentile(self.samples, 50)

    @property
    def p99(self) -> float:
        return percentile(self.samples, 99)

    @property
    def max(self) -> float:
        return max(self.samples) if self.samples else math.nan


# CPU accounting -------------------------------------------------------------------------------

_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    # fields[0] is the state (3rd field of stat); utime and stime are the 14th and 15th.
    return (int(fields[11]) + int(fields[12])) / _TICKS


def _pids_named(name: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() == name:
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def _busy_seconds() -> float:
    """CPU seconds the whole machine was busy since boot (all CPUs), from /proc/stat."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except (OSError, IndexError):
        return 0.0
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / _TICKS


async def wait_until_quiet(limit_seconds: float, busy_cores: float = 0.3) -> float:
    """Wait (at most `limit_seconds`) until the machine is nearly idle; the busy cores last seen."""
    import asyncio

    deadline = time.monotonic() + limit_seconds
    while True:
        before, started = _busy_seconds(), time.monotonic()
        await asyncio.sleep(1.0)
        busy = (_busy_seconds() - before) / (time.monotonic() - started)
        if busy < busy_cores or time.monotonic() >= deadline:
            return busy


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


class CpuMeter:
    """CPU seconds spent by named groups of processes between start() and stop().

    PostgreSQL backends come and go, so the group "postgres" is re-read at both ends;
    a backend that ended in between is not counted (its share is small in these runs).
    "other" is the rest of the machine: anything else running at the same time (it should be ~0).
    """

    def __init__(self, groups: Mapping[str, Iterable[int]]) -> None:
        self._groups = {name: list(pids) for name, pids in groups.items()}
        self._start: dict[str, dict[int, float]] = {}
        self._wall = 0.0
        self._busy = 0.0
        self.seconds: dict[str, float] = {}
        self.wall = 0.0

    def _read(self) -> dict[str, dict[int, float]]:
        groups = dict(self._groups)
        groups["postgres"] = _pids_named("postgres")
        groups.setdefault("redis", _pids_named("redis-server"))
        found: dict[str, dict[int, float]] = {}
        for name, pids in groups.items():
            found[name] = {}
            for pid in pids:
                value = _cpu_seconds(pid)
                if value is not None:
                    found[name][pid] = value
        return found

    def start(self) -> None:
        self._start = self._read()
        self._busy = _busy_seconds()
        self._wall = time.perf_counter()

    def stop(self) -> None:
        end = self._read()
        self.wall = time.perf_counter() - self._wall
        self.seconds = {
            name: sum(value - self._start.get(name, {}).get(pid, 0.0) for pid, value in pids.items())
            for name, pids in end.items()
        }
        busy = _busy_seconds() - self._busy
        self.seconds["other"] = max(busy - sum(self.seconds.values()), 0.0)

    def summary(self) -> str:
        """CPU use as a share of one core, e.g. 'api 0.93, postgres 0.61, bench 0.38'."""
        if self.wall <= 0:
            return ""
        parts = [f"{name} {value / self.wall:.2f}" for name, value in self.seconds.items() if value > 0]
        return ", ".join(parts)


# The machine ----------------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def ram_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return math.nan


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 0
