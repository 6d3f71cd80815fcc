"""Batching benchmark: sequential vs static vs dynamic (continuous) batching, mixed workload.

N closed-loop clients (each sends its next request when the last one is
answered) run a seeded mix of short customer-service turns (sharing a policy
system prompt), code completions and long answers against the in-process
engine, in three modes:

- ``sequential``: the scheduler limited to one running request;
- ``static``: fixed batches of min(N, slots) requests, formed when that many
  wait and run together on the scheduler; the next batch starts only when
  the whole batch has ended, and each request completes when its batch does;
- ``dynamic``: the continuous-batching `Scheduler`.

All three run on the same `Scheduler` settings (the engine's compute thread,
the prefix cache, the same speculation): they differ only in when requests
are admitted and released, so the ratios measure batching and nothing else.
``static_padded`` (not run by default) is the textbook padded baseline of
`engine.bench._static` (prompts padded to the longest, every row computed
until the longest output ends, no prefix cache, no speculation), also on the
compute thread.

Reported per N and mode: aggregate completion tokens/s, p50/p99 end-to-end
latency and time to first token, the padding fraction (``static_padded``:
pad rows / rows; the scheduler modes: rejected draft rows / rows), peak RSS (the
process's high-water mark so far), the p99 of the customer-service turns
against their unloaded latency, and the compute threads in use at the end.

``hog=N`` runs N unpinned Python busy loops beside the engine for the whole
measurement: the busy-neighbour case of docs/threads.md, reproducible.

Example::

    bench = run_batching_bench(concurrency=(1, 4, 16), quick=True)
    print(bench.table())
"""

from __future__ import annotations

import dataclasses
import functools
import subprocess
import sys
import time
from collections.abc import Iterator
from collections.abc import Sequence as Seq
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import anyio

from agentkit.bench.stats import percentile
from engine._engine import Engine
from engine.bench._peer import peak_rss_mb
from engine.bench._static import padded_batch, run_static, scheduler_batch, timed
from engine.bench._workload import Job, Record, make_workload
from engine.scheduler import Scheduler, SchedulerConfig
from engine.scheduler._buckets import RowMeter
from engine.speculative._factory import DrafterFactory, SpeculationSettings

__all__ = [
    "EXTRA_MODES",
    "MODES",
    "BatchingBench",
    "Job",
    "ModeResult",
    "busy_neighbours",
    "make_workload",
    "run_batching_bench",
]

MODES = ("sequential", "static", "dynamic")
EXTRA_MODES = ("static_padded",)


@dataclass(frozen=True)
class ModeResult:
    """One mode at one concurrency.

    Attributes:
        tokens_per_s: completion tokens of all requests / wall time.
        p50_ms, p99_ms: end-to-end latency percentiles (submission to last token).
        ttft_p50_ms, ttft_p99_ms: time-to-first-token percentiles.
        short_p99_ms: p99 end-to-end of the customer-service turns.
        padding_fraction: wasted rows / rows (see the module doc).
        peak_rss_mb: the process's peak resident memory so far.
        requests, tokens: counts; wall_s: duration.
        prefix_hit_rate: prefix-cache hit rate (scheduler modes; 0 for ``static_padded``).
        threads: compute threads at the end (scheduler modes; 0 for ``static_padded``).
    """

    tokens_per_s: float
    p50_ms: float
    p99_ms: float
    ttft_p50_ms: float
    ttft_p99_ms: float
    short_p99_ms: float
    padding_fraction: float
    peak_rss_mb: float
    requests: int
    tokens: int
    wall_s: float
    prefix_hit_rate: float = 0.0
    threads: int = 0


@dataclass
class BatchingBench:
    """Results of `run_batching_bench`.

    Attributes:
        results: concurrency -> mode -> result.
        unloaded_short_ms: end-to-end latency of a customer-service turn alone.
        settings: how it was run.
    """

    results: dict[int, dict[str, ModeResult]] = field(default_factory=dict)
    unloaded_short_ms: float = 0.0
    settings: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """``{"concurrency": {"16": {"static": {"tokens_per_s", "p99_ms", ...}}}, ...}``."""
        return {
            "concurrency": {
                str(n): {m: asdict(r) for m, r in modes.items()}
                for n, modes in self.results.items()
            },
            "unloaded_short_ms": self.unloaded_short_ms,
            "settings": self.settings,
        }

    def table(self) -> str:
        """A plain-text table, one row per (N, mode)."""
        lines = [
            f"{'N':>3} {'mode':<10} {'tok/s':>7} {'p50 ms':>8} {'p99 ms':>8} "
            f"{'ttft99':>8} {'cs p99':>8} {'pad':>5} {'rss MB':>7}"
        ]
        for n, modes in self.results.items():
            for m, r in modes.items():
                lines.append(
                    f"{n:>3} {m:<10} {r.tokens_per_s:>7.1f} {r.p50_ms:>8.0f} {r.p99_ms:>8.0f} "
                    f"{r.ttft_p99_ms:>8.0f} {r.short_p99_ms:>8.0f} {r.padding_fraction:>5.2f} "
                    f"{r.peak_rss_mb:>7.0f}"
                )
        lines.append(f"unloaded customer-service turn: {self.unloaded_short_ms:.0f} ms")
        return "\n".join(lines)

    def plot(self, path: str) -> None:
        """Save a PNG: throughput and p99 latency against concurrency, one line per mode."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        ns = sorted(self.results)
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
        for m in MODES:
            pts = [(n, self.results[n][m]) for n in ns if m in self.results[n]]
            if pts:
                ax1.plot([n for n, _ in pts], [r.tokens_per_s for _, r in pts], "o-", label=m)
                ax2.plot([n for n, _ in pts], [r.p99_ms for _, r in pts], "o-", label=m)
        ax1.set(xlabel="concurrent clients", ylabel="tokens/s", title="throughput")
        ax2.set(xlabel="concurrent clients", ylabel="p99 end-to-end (ms)", title="p99 latency")
        ax2.set_yscale("log")
        for ax in (ax1, ax2):
            ax.legend()
            ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)


def _pct(xs: Seq[float], q: float) -> float:
    """The ``q``-th percentile (`agentkit.bench.stats.percentile`), 0 for no samples."""
    return percentile(xs, q) if xs else 0.0


def _summarise(
    recs: list[Record], wall: float, padding: float, hit_rate: float, threads: int = 0
) -> ModeResult:
    e2e = [r.e2e_s * 1e3 for r in recs]
    ttft = [r.ttft_s * 1e3 for r in recs]
    short = [r.e2e_s * 1e3 for r in recs if r.kind == "customer_service"]
    tokens = sum(r.tokens for r in recs)
    return ModeResult(
        tokens_per_s=tokens / wall if wall > 0 else 0.0,
        p50_ms=_pct(e2e, 50),
        p99_ms=_pct(e2e, 99),
        ttft_p50_ms=_pct(ttft, 50),
        ttft_p99_ms=_pct(ttft, 99),
        short_p99_ms=_pct(short, 99),
        padding_fraction=padding,
        peak_rss_mb=peak_rss_mb(),
        requests=len(recs),
        tokens=tokens,
        wall_s=wall,
        prefix_hit_rate=hit_rate,
        threads=threads,
    )


def _scheduler(
    engine: Engine, mode: str, speculation: bool, base: SchedulerConfig | None
) -> Scheduler:
    settings = SpeculationSettings(enabled=speculation, draft="ngram")
    drafters = DrafterFactory(engine.loaded, settings, engine.cache.n_slots)
    cfg = dataclasses.replace(
        base or SchedulerConfig(),
        max_queue=1024,
        max_batch=1 if mode == "sequential" else None,
    )
    return Scheduler(engine, cfg, drafters)


async def _one(sched: Scheduler, job: Job) -> Record:
    t0 = time.monotonic()
    n, first, end = await timed(sched, job)
    return Record(job.kind, n, end - t0, first - t0)


async def _run_scheduler(sched: Scheduler, clients: list[list[Job]]) -> list[Record]:
    recs: list[Record] = []

    async def client(jobs: list[Job]) -> None:
        for job in jobs:
            recs.append(await _one(sched, job))

    async with anyio.create_task_group() as tg:
        for jobs in clients:
            tg.start_soon(client, jobs)
    return recs


def _run_mode(
    engine: Engine,
    mode: str,
    jobs: list[Job],
    n: int,
    speculation: bool,
    config: SchedulerConfig | None = None,
) -> ModeResult:
    clients = [jobs[i::n] for i in range(n)]
    size = min(n, engine.cache.n_slots)
    t0 = time.monotonic()
    if mode == "static_padded":
        meter = RowMeter()
        recs = anyio.run(run_static, clients, size, padded_batch(engine, meter))
        return _summarise(recs, time.monotonic() - t0, meter.fraction, 0.0)
    sched = _scheduler(engine, mode, speculation, config)
    try:
        if mode == "static":
            batch = functools.partial(scheduler_batch, sched)
            recs = anyio.run(run_static, clients, size, batch)
        else:
            recs = anyio.run(_run_scheduler, sched, clients)
        wall = time.monotonic() - t0
        st = sched.stats()
        hit = st.prefix.hit_rate if st.prefix is not None else 0.0
        return _summarise(recs, wall, st.wasted_fraction, hit, st.threads)
    finally:
        sched.close()


@contextmanager
def busy_neighbours(n: int) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Run ``n`` unpinned Python busy loops (other processes) until the block ends."""
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for _ in range(n):
            procs.append(subprocess.Popen([sys.executable, "-c", "while True: pass"]))
        if procs:
            time.sleep(0.2)  # let them start spinning before anything is timed
        yield procs
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait()


def run_batching_bench(
    concurrency: Seq[int] = (1, 4, 8, 16, 32),
    requests_per_client: int = 2,
    modes: Seq[str] = MODES,
    speculation: bool = False,
    quick: bool = False,
    seed: int = 0,
    engine: Engine | None = None,
    plot: str | None = None,
    scheduler: SchedulerConfig | None = None,
    hog: int = 0,
) -> BatchingBench:
    """Run every mode at every concurrency on the same seeded workload.

    Args:
        concurrency: numbers of concurrent closed-loop clients.
        requests_per_client: requests each client sends, one after another.
        modes: any of `MODES` and `EXTRA_MODES`.
        speculation: n-gram speculation in every scheduler mode (``static_padded``
            never speculates).
        quick: outputs scaled to a quarter, for smoke tests.
        seed: the workload's seed.
        engine: an engine with at least ``max(concurrency)`` slots (default:
            the embedded model with that many slots of 512 positions).
        plot: save the PNG plot here.
        scheduler: settings of the scheduler modes (default `SchedulerConfig()`;
            ``max_queue`` and ``max_batch`` are set per mode), e.g. to compare
            ``urgent_decode_rows`` values.
        hog: unpinned Python busy loops running beside the engine while it is
            measured (`busy_neighbours`); killed at the end.

    Raises:
        ValueError: an unknown mode, too few slots or a negative ``hog``.
    """
    if unknown := set(modes) - set(MODES) - set(EXTRA_MODES):
        raise ValueError(f"unknown modes {sorted(unknown)}; choose from {MODES + EXTRA_MODES}")
    if hog < 0:
        raise ValueError(f"hog must be >= 0, got {hog}")
    top = max(concurrency)
    engine = engine or Engine.load("default", max_seq_len=512, max_slots=top)
    if engine.cache.n_slots < top:
        raise ValueError(f"the engine has {engine.cache.n_slots} slots, {top} clients need as many")
    scale = 0.25 if quick else 1.0
    bench = BatchingBench(
        settings={
            "requests_per_client": requests_per_client,
            "quick": quick,
            "speculation": speculation,
            "seed": seed,
            "threads": engine.threads,
            "adaptive_threads": engine.governor is not None,
            "hog": hog,
            "urgent_decode_rows": (scheduler or SchedulerConfig()).urgent_decode_rows,
        }
    )
    short = next(j for j in make_workload(engine, 8, seed, scale) if j.kind == "customer_service")
    with busy_neighbours(hog):
        alone = _run_mode(engine, "dynamic", [short], 1, speculation, scheduler)
        bench.unloaded_short_ms = alone.p50_ms
        for n in concurrency:
            jobs = make_workload(engine, n * requests_per_client, seed + n, scale)
            bench.results[n] = {
                m: _run_mode(engine, m, jobs, n, speculation, scheduler) for m in modes
            }
    if plot:
        bench.plot(plot)
    return bench
