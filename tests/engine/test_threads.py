"""`ThreadGovernor`: core counting, /proc/stat readings and the thread-count decisions."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine._threads import (
    CpuSample,
    GovernorPolicy,
    ThreadGovernor,
    count_cores,
    physical_cores,
    read_cpu_sample,
    target_threads,
    usable_cpus,
)

POLICY = GovernorPolicy(interval_s=0.0, persist=2)


class FakeStat:
    """Cumulative readings: each `read` advances 1 s in which others used ``others`` CPUs.

    This process's own CPU time is added to the machine's busy time, as the
    kernel counts it, so the governor must take it out again.
    """

    def __init__(self, own_per_s: float = 1.5) -> None:
        self.others = 0.0
        self.own_per_s = own_per_s
        self.sample = CpuSample(busy_s=1000.0, own_s=10.0, at_s=0.0)

    def read(self) -> CpuSample:
        s = self.sample
        self.sample = CpuSample(
            s.busy_s + self.others + self.own_per_s, s.own_s + self.own_per_s, s.at_s + 1.0
        )
        return self.sample


def governor(stat: FakeStat, max_threads: int = 2, n_cpus: int = 2) -> ThreadGovernor:
    return ThreadGovernor(max_threads, POLICY, read=stat.read, n_cpus=n_cpus)


def run(gov: ThreadGovernor, stat: FakeStat, others: list[float]) -> list[int]:
    """The thread count after each window of ``others``."""
    out = []
    for value in others:
        stat.others = value
        gov.poll()
        out.append(gov.threads)
    return out


# ---- core counting -------------------------------------------------------------------


def _cpuinfo(cores: list[tuple[int, int, int]]) -> str:
    """(processor, physical id, core id) blocks, as /proc/cpuinfo writes them."""
    return "\n\n".join(
        f"processor\t: {p}\nmodel name\t: X\nphysical id\t: {s}\ncore id\t\t: {c}"
        for p, s, c in cores
    )


def test_hyperthreads_count_once_and_only_cpus_we_may_use_count() -> None:
    text = _cpuinfo([(0, 0, 0), (1, 0, 1), (2, 0, 0), (3, 0, 1), (4, 1, 0), (5, 1, 0)])
    assert count_cores(text, {0, 1, 2, 3, 4, 5}) == 3
    assert count_cores(text, {0, 2}) == 1  # two siblings of one core (taskset -c 0,2)
    assert count_cores(text, {1, 4}) == 2  # same core id on two sockets: two cores


def test_cpuinfo_without_core_ids_counts_the_cpus() -> None:
    assert count_cores("processor\t: 0\nBogoMIPS\t: 50\n\nprocessor\t: 1\n", {0, 1}) == 2
    assert count_cores("", {0, 1, 2}) == 3


def test_physical_cores_never_exceeds_the_affinity_mask() -> None:
    assert 1 <= physical_cores() <= len(usable_cpus())


def test_the_cli_counts_cores_as_the_engine_does() -> None:
    from agentkit.cli._common import default_threads

    assert default_threads() == physical_cores()


# ---- /proc/stat ------------------------------------------------------------------------

STAT = (
    "cpu  300 30 60 9000 10 0 6 3 0 0\n"
    "cpu0 100 10 20 3000 5 0 2 1 7 0\n"
    "cpu1 100 10 20 3000 5 0 2 1 0 0\n"
    "cpu2 100 10 20 3000 0 0 2 1 0 0\n"
    "intr 1 2 3\nctxt 99\n"
)


def test_reading_sums_busy_columns_of_our_cpus_only(tmp_path: Path) -> None:
    path = tmp_path / "stat"
    path.write_text(STAT)
    sample = read_cpu_sample({0, 2}, stat=str(path))
    assert sample is not None
    tick = os.sysconf("SC_CLK_TCK")
    # user nice system irq softirq steal (not idle, iowait, or guest: inside user already)
    assert sample.busy_s == pytest.approx(2 * (100 + 10 + 20 + 0 + 2 + 1) / tick)
    assert sample.own_s == pytest.approx(time.process_time(), abs=0.5)


@pytest.mark.parametrize("text", ["", "cpu  1 2 3\nintr 5\n", "cpu0 1 x 3 4 5 6 7 8\n"])
def test_unreadable_or_foreign_stat_gives_no_sample(tmp_path: Path, text: str) -> None:
    path = tmp_path / "stat"
    path.write_text(text)
    assert read_cpu_sample({0}, stat=str(path)) is None
    assert read_cpu_sample({0}, stat=str(tmp_path / "missing")) is None


# ---- decisions -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "others", "max_threads", "n_cpus", "want"),
    [
        (2, 0.0, 2, 2, 2),  # quiet: every core
        (2, 1.0, 2, 2, 1),  # one core busy by another process
        (2, 0.45, 2, 2, 1),  # a busy loop sharing a core with a spinning team reads low
        (2, 0.3, 2, 2, 2),  # inside the band: stay
        (1, 0.3, 2, 2, 1),  # inside the band: stay
        (1, 0.1, 2, 2, 2),  # free again
        (8, 2.0, 8, 8, 6),
        (8, 7.9, 8, 8, 1),  # never below one
        (4, 1.0, 4, 8, 4),  # 4 cores / 8 hyper-threads: a spare logical CPU for the neighbour
        (4, 4.6, 4, 8, 3),
    ],
)
def test_target_threads(
    current: int, others: float, max_threads: int, n_cpus: int, want: int
) -> None:
    assert target_threads(current, others, max_threads, n_cpus, POLICY) == want


def test_quiet_machine_keeps_every_thread() -> None:
    stat = FakeStat(own_per_s=2.0)  # our own two busy threads are not a neighbour
    gov = governor(stat)
    assert run(gov, stat, [0.0, 0.05, 0.1, 0.0, 0.15, 0.0]) == [2] * 6
    assert gov.changes == 0


def test_one_busy_core_costs_one_thread_after_two_windows_and_comes_back() -> None:
    stat = FakeStat()
    gov = governor(stat)
    assert run(gov, stat, [1.0, 1.0, 1.0]) == [2, 1, 1]
    assert gov.others == pytest.approx(1.0)
    assert run(gov, stat, [0.0, 0.0, 0.0]) == [1, 2, 2]
    assert gov.changes == 2


def test_flapping_load_does_not_flap_the_thread_count() -> None:
    stat = FakeStat()
    gov = governor(stat)
    assert run(gov, stat, [1.0, 0.0] * 10) == [2] * 20
    assert run(gov, stat, [1.0, 1.0]) == [2, 1]
    assert run(gov, stat, [0.0, 1.0] * 10) == [1] * 20
    assert gov.changes == 1


def test_a_change_takes_the_smaller_step_of_the_windows_that_agree() -> None:
    stat = FakeStat()
    gov = governor(stat, max_threads=8, n_cpus=8)
    assert run(gov, stat, [4.0, 2.0]) == [8, 6]  # down 4 then down 2: 6, not 4


@settings(derandomize=True, max_examples=200, deadline=None)
@given(st.lists(st.floats(min_value=0.0, max_value=4.0), max_size=40))
def test_count_stays_in_range_and_never_changes_two_windows_running(loads: list[float]) -> None:
    stat = FakeStat()
    gov = governor(stat, max_threads=4, n_cpus=4)
    counts = run(gov, stat, loads)
    assert all(1 <= n <= 4 for n in counts)
    changed = [a != b for a, b in itertools.pairwise([4, *counts])]
    assert not any(x and y for x, y in itertools.pairwise(changed))


def test_poll_reads_at_most_once_an_interval() -> None:
    reads: list[float] = []
    now = [0.0]

    def read() -> CpuSample:
        reads.append(now[0])
        return CpuSample(float(len(reads)), 0.0, now[0])

    gov = ThreadGovernor(2, GovernorPolicy(interval_s=0.25), read=read, clock=lambda: now[0])
    for t in (0.1, 0.2, 0.26, 0.3, 0.4, 0.52):
        now[0] = t
        gov.poll()
    assert reads == [0.0, 0.26, 0.52]


def test_without_proc_stat_the_governor_keeps_its_maximum() -> None:
    gov = ThreadGovernor(2, POLICY, read=lambda: None, n_cpus=2)
    assert not gov.active
    assert [gov.poll() for _ in range(5)] == [None] * 5
    assert gov.threads == 2


def test_bad_maximum_is_refused() -> None:
    with pytest.raises(ValueError, match="max_threads"):
        ThreadGovernor(0)


# ---- a real neighbour ------------------------------------------------------------------


def _settle(gov: ThreadGovernor, want: int, timeout_s: float) -> bool:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        time.sleep(0.05)
        gov.poll()
        if gov.threads == want:
            return True
    return False


@pytest.mark.skipif(len(usable_cpus()) < 2 or read_cpu_sample(usable_cpus()) is None,
                    reason="needs /proc/stat and 2 CPUs")  # fmt: skip
def test_a_real_busy_loop_takes_a_thread_until_it_ends() -> None:
    n = len(usable_cpus())
    gov = ThreadGovernor(n, GovernorPolicy(interval_s=0.25))
    time.sleep(0.6)
    gov.poll()
    if gov.others >= 0.2:
        pytest.skip(f"the machine is busy already ({gov.others:.2f} CPUs used by others)")
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        assert _settle(gov, n - 1, timeout_s=5.0), f"others {gov.others:.2f}"
        assert gov.others > 0.6
    finally:
        hog.kill()
        hog.wait()
    assert _settle(gov, n, timeout_s=5.0), f"others {gov.others:.2f}"
