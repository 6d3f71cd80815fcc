"""Soak: ``agentkit serve`` under a long mix of good, bad, cancelled and dropped requests.

`run_soak` starts the real CLI server (embedded default model) in a child
process on a free loopback port and drives the seeded mix of
`agentkit.bench._soak_mix` at a bounded concurrency for the given minutes,
after one warm-up request of every kind (so that every status the mix can
produce has its metrics series before the run). It samples the server's
resident memory (``/proc/PID/status``), counts the series in ``/metrics`` at
the start of the second half and at the end, waits for the server to drain,
and judges (`evaluate`):

- every KV slot is free at the end (``/health``'s ``slots_in_use``);
- RSS grows by less than 5 MB over the second half, judged only when that half
  lasts at least a minute: before that the server's bounded caches (featurised
  texts, embeddings, prompt ids: a few hundred entries each) and the
  allocator's arenas are still filling. Measured at concurrency 3, one thread,
  no leak: second-half growth 1.2-4.0 MB in five 3 s runs, 3.5 and 5.1 MB in
  two 40 s runs, 3.1 MB in a 90 s run and 2.8 MB in a 2 min run (26 MB over the
  90 s run in all, flattening);
- the metrics series count does not grow over the second half;
- no response is a 5xx, and the server counts none in its own metrics (a
  client that hung up never sees the 500 the server recorded for it);
- the p99 latency of good requests in the last quarter is at most 1.5x the first's;
- every good request succeeds and every bad one gets a 4xx.

A check that cannot be judged (no ``slots_in_use`` in ``/health``, too few good
requests in a window for a p99) is reported as skipped, not passed.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from agentkit._local_server import LocalServer
from agentkit.bench._soak_mix import Deck, Outcome, SoakTarget, send
from agentkit.bench.stats import percentile

__all__ = ["SoakCheck", "SoakReport", "evaluate", "run_soak"]

RSS_GROWTH_LIMIT_MB = 5.0
P99_DRIFT_LIMIT = 1.5
MIN_RSS_HALF_S = 60.0  # a shorter second half is still warm-up for the leak check
MIN_WINDOW_SAMPLES = 20  # below this a window's "p99" is its maximum: too noisy to judge
_DRAIN_TIMEOUT_S = 15.0
_REQUEST_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class SoakCheck:
    """One held-or-not property of the run.

    Attributes:
        name: Short id (``slots_free``, ``rss_growth``...).
        passed: True, False, or None when it could not be judged (see ``detail``).
        value: What was measured, in words and numbers.
        bound: What it had to be.
        detail: Why it failed or was skipped (empty when it passed).
    """

    name: str
    passed: bool | None
    value: str
    bound: str
    detail: str = ""


@dataclass(frozen=True)
class SoakSamples:
    """What the run observed besides the outcomes (the inputs of `evaluate`).

    Attributes:
        duration_s: The planned length of the sending phase.
        rss_mid_kb: Server RSS at the start of the second half.
        rss_end_kb: Server RSS after the drain.
        series_mid: Series in ``/metrics`` at the start of the second half.
        series_end: Series after the drain.
        health_end: ``/health``'s body after the drain ({} when unreachable).
        server_alive: Whether the server process was still running at the end.
        server_5xx: 5xx responses counted in the server's own request metrics.
        new_series: Up to 5 series present at the end but not at the middle.
    """

    duration_s: float
    rss_mid_kb: int
    rss_end_kb: int
    series_mid: int
    series_end: int
    health_end: dict[str, Any]
    server_alive: bool
    server_5xx: int = 0
    new_series: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SoakReport:
    """A soak run: the settings, per-kind outcomes, the checks and ``ok``.

    Attributes:
        minutes, concurrency, seed, threads: The run's settings.
        requests: Requests sent, warm-up included.
        kinds: Per kind: group, count, statuses, p50/p99 latency (ms), failures.
        checks: The verdicts of `evaluate`.
        samples: What the checks were computed from.
        rss_trace_mb: (seconds into the run, server RSS in MB), every 0.5 s at most.
        failures: Up to 20 distinct reasons requests missed their expectation.
    """

    minutes: float
    concurrency: int
    seed: int
    threads: int
    requests: int
    kinds: list[dict[str, Any]]
    checks: list[SoakCheck]
    samples: SoakSamples
    rss_trace_mb: list[tuple[float, float]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no check failed (skipped checks do not fail the run)."""
        return all(c.passed is not False for c in self.checks)

    def to_json(self) -> dict[str, Any]:
        """Every attribute, plus ``ok``."""
        return {**asdict(self), "ok": self.ok}


def _p99_check(outcomes: list[Outcome], duration_s: float) -> SoakCheck:
    quarter = duration_s / 4
    good = [o for o in outcomes if o.group == "good" and o.ok]
    first = [o.latency_s for o in good if 0 <= o.started_s < quarter]  # < 0: warm-up
    last = [o.latency_s for o in good if o.started_s >= 3 * quarter]
    bound = f"last quarter <= {P99_DRIFT_LIMIT}x first"
    value = f"first {_p99_ms(first)} ms (n={len(first)}), last {_p99_ms(last)} ms (n={len(last)})"
    if min(len(first), len(last)) < MIN_WINDOW_SAMPLES:
        why = f"fewer than {MIN_WINDOW_SAMPLES} good requests in a window: run longer"
        return SoakCheck("p99_drift", None, value, bound, why)
    ratio = percentile(last, 99) / max(percentile(first, 99), 1e-9)
    passed = ratio <= P99_DRIFT_LIMIT
    why = "" if passed else "good requests got slower over the run"
    return SoakCheck("p99_drift", passed, f"{value}: {ratio:.2f}x", bound, why)


def _p99_ms(latencies_s: list[float]) -> str:
    return f"{percentile(latencies_s, 99) * 1e3:.0f}" if latencies_s else "-"


def _rss_check(samples: SoakSamples) -> SoakCheck:
    growth_mb = (samples.rss_end_kb - samples.rss_mid_kb) / 1024
    value, bound = f"{growth_mb:+.1f} MB", f"< {RSS_GROWTH_LIMIT_MB:.0f} MB over the second half"
    half_s = samples.duration_s / 2
    if half_s < MIN_RSS_HALF_S:
        why = (
            f"second half {half_s:.1f} s < {MIN_RSS_HALF_S:.0f} s: caches still filling, run longer"
        )
        return SoakCheck("rss_growth", None, value, bound, why)
    passed = growth_mb < RSS_GROWTH_LIMIT_MB
    return SoakCheck(
        "rss_growth", passed, value, bound, "" if passed else "resident memory keeps growing"
    )


def _slots_check(health: dict[str, Any]) -> SoakCheck:
    if health.get("slots_in_use") is None:  # absent, or a backend without slots
        why = "/health reports no slots_in_use: not verified"
        return SoakCheck(
            "slots_free", None, f"in_flight={health.get('in_flight')}", "0 in use", why
        )
    in_use, total = health["slots_in_use"], health.get("slots_total")
    passed = in_use == 0
    why = "" if passed else f"{in_use} KV slot(s) still held after the drain: leaked"
    return SoakCheck("slots_free", passed, f"{in_use} of {total} in use", "0 in use", why)


def _expectation_check(name: str, outcomes: list[Outcome], group: str, bound: str) -> SoakCheck:
    picked = [o for o in outcomes if o.group == group]
    failed = [o for o in picked if not o.ok]
    passed = not failed
    why = "" if passed else f"first: {failed[0].kind} {failed[0].detail}"
    return SoakCheck(name, passed, f"{len(picked) - len(failed)} of {len(picked)}", bound, why)


def evaluate(outcomes: list[Outcome], samples: SoakSamples) -> list[SoakCheck]:
    """Judge a run: the checks listed in the module docstring, in that order."""
    series_growth = samples.series_end - samples.series_mid
    errors = [o for o in outcomes if o.server_error]
    no_5xx = not errors and samples.server_5xx == 0
    if errors:
        why_5xx = f"first: {errors[0].kind} {errors[0].detail}"
    else:
        why_5xx = "" if no_5xx else "the server counted 5xx that no client saw (hung up first)"
    checks = [
        _slots_check(samples.health_end),
        _rss_check(samples),
        SoakCheck(
            "metrics_series", series_growth <= 0,
            f"{samples.series_mid} -> {samples.series_end}", "no growth over the second half",
            "" if series_growth <= 0 else "new: " + ", ".join(samples.new_series),
        ),
        SoakCheck(
            "no_5xx", no_5xx,
            f"{len(errors)} of {len(outcomes)} answers; {samples.server_5xx} in /metrics", "0",
            why_5xx,
        ),
        _p99_check(outcomes, samples.duration_s),
        _expectation_check("good_succeed", outcomes, "good", "all 200, complete"),
        _expectation_check("bad_refused", outcomes, "bad", "all 4xx"),
        SoakCheck(
            "server_alive", samples.server_alive, str(samples.server_alive), "True",
            "" if samples.server_alive else "the server process exited during the run",
        ),
    ]  # fmt: skip
    return checks


def summarize_kinds(outcomes: list[Outcome]) -> list[dict[str, Any]]:
    """One row per request kind: count, statuses, p50/p99 latency, failures."""
    rows = []
    for kind in dict.fromkeys(o.kind for o in outcomes):
        picked = [o for o in outcomes if o.kind == kind]
        latencies = [o.latency_s for o in picked]
        statuses = Counter("-" if o.status is None else str(o.status) for o in picked)
        rows.append({
            "kind": kind, "group": picked[0].group, "sent": len(picked),
            "statuses": dict(sorted(statuses.items())),
            "p50_ms": percentile(latencies, 50) * 1e3, "p99_ms": percentile(latencies, 99) * 1e3,
            "failed": sum(not o.ok for o in picked),
        })  # fmt: skip
    return sorted(rows, key=lambda r: (r["group"], r["kind"]))


def rss_kb(pid: int) -> int:
    """The process's resident set size (VmRSS) in kB; 0 once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return 0
    return 0


def series(metrics_text: str) -> dict[str, float]:
    """Each series (name and labels of a sample) in a Prometheus text exposition, with its value."""
    samples = (line.rsplit(" ", 1) for line in metrics_text.splitlines() if line[:1] not in "#")
    return {name: float(value) for name, value in samples}


def server_5xx(by_series: dict[str, float]) -> int:
    """5xx responses in ``agentkit_server_requests_total`` (any label layout with ``status``)."""
    total = 0.0
    for name, value in by_series.items():
        if name.startswith("agentkit_server_requests_total{") and 'status="5' in name:
            total += value
    return int(total)


class _Run:
    """The sending phase: workers deal from one deck until the deadline; a sampler watches."""

    def __init__(self, target: SoakTarget, pid: int, duration_s: float, seed: int) -> None:
        self.target, self.pid, self.duration_s = target, pid, duration_s
        self.rng = random.Random(seed)
        self.deck = Deck(self.rng)
        self.outcomes: list[Outcome] = []
        self.trace: list[tuple[float, float]] = []
        self.mid: tuple[int, set[str]] = (0, set())  # (rss kB, series names)

    async def worker(self, client: httpx.AsyncClient, t0: float) -> None:
        while time.perf_counter() - t0 < self.duration_s:
            kind = self.deck.deal()
            rng = random.Random(self.rng.randrange(2**63))  # per request: order-independent
            self.outcomes.append(await send(kind, client, self.target, rng, t0))

    async def sampler(self, client: httpx.AsyncClient, t0: float) -> None:
        half_done = False
        while (elapsed := time.perf_counter() - t0) < self.duration_s:
            self.trace.append((round(elapsed, 2), round(rss_kb(self.pid) / 1024, 2)))
            if not half_done and elapsed >= self.duration_s / 2:
                half_done = True
                metrics = await client.get("/metrics")
                self.mid = (rss_kb(self.pid), set(series(metrics.text)))
            await asyncio.sleep(min(0.5, self.duration_s / 20))

    async def warm_up(self, client: httpx.AsyncClient) -> None:
        """Every kind once, one at a time, and a scrape of each probe, before the clock starts."""
        for path in ("/health", "/metrics"):
            await client.get(path)
        t0 = time.perf_counter() + 3600.0  # negative start times: outside every window
        for kind in self.deck.kinds:
            rng = random.Random(self.rng.randrange(2**63))
            self.outcomes.append(await send(kind, client, self.target, rng, t0))

    async def run(self, concurrency: int) -> None:
        limits = httpx.Limits(max_connections=concurrency + 2)
        async with httpx.AsyncClient(
            base_url=self.target.base_url, timeout=_REQUEST_TIMEOUT_S, limits=limits
        ) as client:
            await self.warm_up(client)
            t0 = time.perf_counter()
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self.sampler(client, t0))
                for _ in range(concurrency):
                    tg.create_task(self.worker(client, t0))


def _drained_health(base_url: str) -> dict[str, Any]:
    """``/health`` once nothing is in flight or held (or as it is after the drain timeout)."""
    deadline, body = time.monotonic() + _DRAIN_TIMEOUT_S, dict[str, Any]()
    while time.monotonic() < deadline:
        try:
            body = httpx.get(f"{base_url}/health", timeout=5.0).json()
        except (httpx.HTTPError, ValueError):
            body = {}
        if body and body.get("in_flight", 0) == 0 and not body.get("slots_in_use"):
            break
        time.sleep(0.2)
    return dict(body)


def run_soak(
    *, minutes: float, concurrency: int = 4, seed: int = 0, threads: int = 1,
    serve_args: tuple[str, ...] = (),
) -> SoakReport:  # fmt: skip
    """Soak a fresh ``agentkit serve`` for ``minutes`` and judge it.

    Args:
        minutes: Length of the sending phase (fractions allowed: 0.05 is 3 s).
        concurrency: Requests in flight at once.
        seed: Seeds the mix, every request's parameters and the sampling seeds.
        threads: The server's compute threads.
        serve_args: More ``agentkit serve`` arguments. Without ``--slots`` the
            server gets ``max(4, concurrency)`` KV slots: with more (the serve
            default is 16) new requests take never-used slots first, whose
            cache pages are touched for the first time during the run, and that
            bounded warm-up would read as RSS growth to the leak check.

    Returns:
        The report; ``report.ok`` is False when a check failed.

    Raises:
        ModelUnavailableError: the server did not start.
        ValueError: ``minutes`` or ``concurrency`` is not positive.
    """
    if minutes <= 0 or concurrency < 1:
        raise ValueError("minutes must be > 0 and concurrency >= 1")
    if "--slots" not in serve_args:
        serve_args = ("--slots", str(max(4, concurrency)), *serve_args)
    with LocalServer(threads=threads, extra_args=serve_args) as server:
        root, pid = server.base_url.removesuffix("/v1"), server.pid
        host, port = root.removeprefix("http://").rsplit(":", 1)
        model = httpx.get(f"{root}/v1/models", timeout=10.0).json()["data"][0]["id"]
        run = _Run(SoakTarget(root, model, host, int(port)), pid, minutes * 60, seed)
        asyncio.run(run.run(concurrency))
        health = _drained_health(root)
        rss_end = rss_kb(pid)  # before /metrics: rendering it allocates
        end = series(httpx.get(f"{root}/metrics", timeout=10.0).text)
        rss_mid, mid = run.mid if run.mid[0] else (rss_end, set(end))
        samples = SoakSamples(
            run.duration_s, rss_mid, rss_end, len(mid), len(end), health,
            rss_end > 0,  # a dead child (a zombie until reaped) has no VmRSS
            server_5xx(end), sorted(set(end) - mid)[:5],
        )  # fmt: skip
    checks = evaluate(run.outcomes, samples)
    failures = sorted({f"{o.kind}: {o.detail}" for o in run.outcomes if not o.ok})[:20]
    return SoakReport(
        minutes, concurrency, seed, threads, len(run.outcomes), summarize_kinds(run.outcomes),
        checks, samples, run.trace, failures,
    )  # fmt: skip
