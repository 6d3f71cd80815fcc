"""Core counting and `ThreadGovernor`: fewer OpenMP threads while other processes hold cores.

Every kernel splits its work over torch's OpenMP team (``at::parallel_for``,
a static split), ~150 parallel regions a token, and each region ends in a
barrier. When another process runs on one of our cores, the OpenMP thread on
that core is descheduled for whole scheduler slices (milliseconds) and every
region waits for it: on 2 cores with one Python busy loop beside it, decode
fell to a small fraction of its quiet speed, far below the half that losing a
core should cost. One thread fewer leaves the neighbour a core of its own and
the barriers nobody to wait for.

`ThreadGovernor` estimates, between steps, how many CPUs other processes
keep busy (``/proc/stat`` over the CPUs we may run on, minus this process's
own CPU time) and picks the team size that fits what is left. Outputs do not
depend on it: each output element is computed by one thread with a fixed
instruction sequence (engine/kernels/README.md, "Row invariance"). See
docs/threads.md.

Nothing here imports torch: the caller applies the count (the scheduler's
driver calls ``torch.set_num_threads`` on the compute thread).
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine._errors import EngineConfigError

__all__ = [
    "CpuSample",
    "GovernorPolicy",
    "ThreadGovernor",
    "count_cores",
    "physical_cores",
    "read_cpu_sample",
    "target_threads",
    "usable_cpus",
]

# /proc/stat columns counted as busy: user nice system (idle iowait skipped) irq
# softirq steal. guest and guest_nice are already inside user and nice. Steal is
# time a hypervisor gave our vCPU to someone else: a neighbour like any other.
_BUSY_COLUMNS = (0, 1, 2, 5, 6, 7)


def _log(event: str, **fields: Any) -> None:
    """Log through structlog only if the application imported it (the engine never does)."""
    structlog = sys.modules.get("structlog")
    if structlog is not None:
        structlog.get_logger(__name__).info(event, **fields)


def usable_cpus() -> frozenset[int]:
    """The logical CPUs this process may run on (its affinity mask)."""
    if hasattr(os, "sched_getaffinity"):
        return frozenset(os.sched_getaffinity(0))
    return frozenset(range(os.cpu_count() or 1))


def count_cores(cpuinfo: str, cpus: Collection[int]) -> int:
    """Distinct physical cores among ``cpus``, from the text of ``/proc/cpuinfo``.

    Hyper-threads of one core share its FMA units and memory bus, so they
    count once. Falls back to ``len(cpus)`` when the text names no cores
    (e.g. on ARM, where ``/proc/cpuinfo`` has no ``core id``).
    """
    cores: set[tuple[str, str]] = set()
    for block in cpuinfo.split("\n\n"):
        entry = {}
        for line in block.splitlines():
            key, _, value = line.partition(":")
            entry[key.strip()] = value.strip()
        proc = entry.get("processor", "")
        if proc.isdigit() and int(proc) in cpus and "core id" in entry:
            cores.add((entry.get("physical id", "0"), entry["core id"]))
    return max(1, len(cores) or len(cpus))


def physical_cores() -> int:
    """Physical cores this process may run on: the default (and most) compute threads."""
    cpus = usable_cpus()
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return max(1, len(cpus))
    return count_cores(text, cpus)


@dataclass(frozen=True)
class CpuSample:
    """Cumulative CPU time at one moment.

    Attributes:
        busy_s: busy seconds of every process, summed over the CPUs we may run on.
        own_s: this process's CPU seconds (all its threads).
        at_s: when it was taken (``time.monotonic()``).
    """

    busy_s: float
    own_s: float
    at_s: float


def read_cpu_sample(cpus: Collection[int], stat: str = "/proc/stat") -> CpuSample | None:
    """Read a `CpuSample` over ``cpus``; None where ``stat`` cannot be read or parsed."""
    try:
        text = Path(stat).read_text()
        tick = os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, AttributeError):
        return None
    ticks, seen = 0, 0
    for line in text.splitlines():
        name, _, rest = line.partition(" ")
        if not name.startswith("cpu") or not name[3:].isdigit() or int(name[3:]) not in cpus:
            continue
        cols = rest.split()
        try:
            ticks += sum(int(cols[i]) for i in _BUSY_COLUMNS if i < len(cols))
        except ValueError:
            return None
        seen += 1
    if not seen or tick <= 0:
        return None
    return CpuSample(ticks / tick, time.process_time(), time.monotonic())


@dataclass(frozen=True)
class GovernorPolicy:
    """When `ThreadGovernor` changes the thread count.

    A CPU counts as taken once other processes use ``take`` of it, and as free
    again below ``free``: the band between keeps the count steady on a
    neighbour near a threshold. ``take`` is well under one half because a
    neighbour sharing a core with a spinning team gets only part of that core,
    so it reads lower than what it would take from one thread.

    Attributes:
        interval_s: shortest window between two readings.
        persist: consecutive windows that must agree before a change.
        take: fraction of a CPU used by others that makes it taken.
        free: fraction below which a taken CPU is free again.
    """

    interval_s: float = 0.25
    persist: int = 2
    take: float = 0.35
    free: float = 0.2


def target_threads(
    current: int, others: float, max_threads: int, n_cpus: int, policy: GovernorPolicy
) -> int:
    """The thread count for one window in which others kept ``others`` CPUs busy.

    Threads never exceed the CPUs left to us (``n_cpus`` minus those taken),
    nor ``max_threads``, and never drop below 1. Inside the hysteresis band
    the current count stands.
    """

    def fit(threshold: float) -> int:
        taken = math.floor(others + 1.0 - threshold)
        return max(1, min(max_threads, n_cpus - max(0, taken)))

    down, up = fit(policy.take), fit(policy.free)
    if current > down:
        return down
    if current < up:
        return up
    return current


class ThreadGovernor:
    """Chooses the compute thread count from what other processes leave free.

    Call `poll` between steps (it reads at most once per ``interval_s``); it
    returns a new count to apply, or None. Where ``/proc/stat`` cannot be read
    it logs once and keeps ``max_threads``.

    Args:
        max_threads: the most threads (the physical cores, usually).
        policy: thresholds and timing.
        read: takes a `CpuSample` (default: `read_cpu_sample` over `usable_cpus`).
        n_cpus: logical CPUs we may run on (default: ``len(usable_cpus())``).
        clock: monotonic seconds, for the interval.
    """

    def __init__(
        self,
        max_threads: int,
        policy: GovernorPolicy | None = None,
        read: Callable[[], CpuSample | None] | None = None,
        n_cpus: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Take the first reading; start at ``max_threads``."""
        if max_threads < 1:
            raise EngineConfigError("max_threads must be >= 1")
        cpus = usable_cpus()
        self.max_threads = max_threads
        self.policy = policy or GovernorPolicy()
        self.n_cpus = n_cpus or len(cpus)
        self._read = read or (lambda: read_cpu_sample(cpus))
        self._clock = clock
        self._threads = max_threads
        self._pending: int | None = None
        self._votes = 0
        self.others = 0.0  # CPUs busy with other processes in the last window
        self.changes = 0
        self._last = self._read()
        self._checked = clock()
        if self._last is None:
            _log("threads.governor_off", reason="cannot read /proc/stat", threads=max_threads)

    @property
    def threads(self) -> int:
        """The thread count in force."""
        return self._threads

    @property
    def active(self) -> bool:
        """False where CPU usage cannot be read (the count then stays at its maximum)."""
        return self._last is not None

    def poll(self) -> int | None:
        """Read the CPUs if a window has passed; the new thread count, or None to keep it."""
        now = self._clock()
        if self._last is None or now - self._checked < self.policy.interval_s:
            return None
        self._checked = now
        sample = self._read()
        if sample is None:
            return None
        last, self._last = self._last, sample
        window = sample.at_s - last.at_s
        if window <= 0:
            return None
        spent = (sample.busy_s - last.busy_s) - (sample.own_s - last.own_s)
        self.others = max(0.0, spent / window)
        want = target_threads(
            self._threads, self.others, self.max_threads, self.n_cpus, self.policy
        )
        return self._vote(want)

    def _vote(self, want: int) -> int | None:
        """Apply ``want`` once ``persist`` windows in a row point the same way."""
        if want == self._threads:
            self._pending, self._votes = None, 0
            return None
        if self._pending is None or (want > self._threads) != (self._pending > self._threads):
            self._pending, self._votes = want, 0
        # of windows that agree on the direction, the change is the smallest they ask for
        self._pending = min(self._pending, want, key=lambda n: abs(n - self._threads))
        self._votes += 1
        if self._votes < self.policy.persist:
            return None
        before, self._threads = self._threads, self._pending
        self._pending, self._votes = None, 0
        self.changes += 1
        _log("threads.changed", before=before, after=self._threads, others=round(self.others, 2))
        return self._threads
