"""Through the server: N concurrent requests of mixed length against the same N one after another.

What a team serving several agents from one ``agentkit serve`` wants to know:
does the server's continuous batching turn concurrency into throughput, and
what does a short customer-service turn pay for the company it keeps?

Each round starts a fresh ``agentkit serve`` (same flags every time, the
production defaults unless told otherwise) per mode, warms it with one
unrelated request, then sends the same N chat requests (the batching
benchmark's seeded mix, `engine.bench._workload.workload_messages`: half
customer-service turns sharing a policy system prompt, a quarter code, a
quarter long answers) through the official ``openai`` client, greedy:

* ``sequential``: one after another, each alone on the server: the
  unloaded latency of every request;
* ``concurrent``: all N at once.

A fresh server per mode and round means neither mode finds the other's
prompts in the prefix cache; within a mode the shared system prompt is cached
as it is in production. Modes alternate inside each round, and the order
flips every round (ABBA), so drift over the minutes does not favour one.

Reported: the aggregate wall time of each mode (median and range over
rounds), the speed-up (sequential / concurrent, per round, then median), the
completion tokens (the same requests: they should match), and the
customer-service turns' latency under load against alone: ``cs_p99_ratio`` is
the p99 of their concurrent end-to-end times (`agentkit.bench.stats.percentile`,
the one convention of every benchmark) over the median of their sequential
ones, pooled over rounds.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from agentkit.bench._http import spread_json
from agentkit.bench.stats import percentile

__all__ = ["LoadBench", "LoadRound", "run_load_bench", "summarise_load"]

MODES = ("sequential", "concurrent")


@dataclass(frozen=True)
class LoadRound:
    """One mode in one round.

    Attributes:
        mode: ``sequential`` or ``concurrent``.
        wall_s: first request sent to last response received.
        tokens: completion tokens over all requests.
        e2e_s: per request, in workload order: its end-to-end seconds.
        kinds: per request, in workload order: its kind.
        texts: per request, in workload order: the answer.
    """

    mode: str
    wall_s: float
    tokens: int
    e2e_s: list[float]
    kinds: list[str]
    texts: list[str] = field(repr=False)


@dataclass
class LoadBench:
    """The summary (see the module doc); ``rounds_detail`` keeps every measurement.

    Attributes:
        clients: requests sent together in ``concurrent``.
        rounds: rounds run (each: both modes, on fresh servers).
        threads, slots: the server's compute threads and KV-cache slots.
        server_args: the extra ``agentkit serve`` flags.
        speedup: sequential wall / concurrent wall, per round: median, low, high, n.
        sequential_s, concurrent_s: aggregate wall time per mode over rounds.
        tokens: completion tokens per mode (median over rounds).
        same_text: every request got the same answer in both modes, every round.
        cs_alone_ms: median end-to-end of a customer-service turn alone.
        cs_p99_loaded_ms: p99 end-to-end of the customer-service turns under load.
        cs_p99_ratio: ``cs_p99_loaded_ms / cs_alone_ms``.
        machine: CPU features and versions.
    """

    clients: int
    rounds: int
    threads: int
    slots: int
    server_args: list[str]
    speedup: dict[str, float] = field(default_factory=dict)
    sequential_s: dict[str, float] = field(default_factory=dict)
    concurrent_s: dict[str, float] = field(default_factory=dict)
    tokens: dict[str, int] = field(default_factory=dict)
    same_text: bool = True
    cs_alone_ms: float = 0.0
    cs_p99_loaded_ms: float = 0.0
    cs_p99_ratio: float = 0.0
    machine: dict[str, Any] = field(default_factory=dict)
    rounds_detail: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """Every attribute, JSON-ready."""
        return asdict(self)


def summarise_load(bench: LoadBench, runs: list[tuple[LoadRound, LoadRound]]) -> LoadBench:
    """Fill ``bench``'s summary from ``(sequential, concurrent)`` pairs, one per round.

    Raises:
        ValueError: no rounds, or a pair whose modes or requests do not match.
    """
    if not runs:
        raise ValueError("no rounds to summarise")
    for seq, conc in runs:
        if (seq.mode, conc.mode) != MODES or seq.kinds != conc.kinds:
            raise ValueError("each pair must be (sequential, concurrent) over the same requests")
    bench.speedup = spread_json([s.wall_s / c.wall_s for s, c in runs])
    bench.sequential_s = spread_json([s.wall_s for s, _ in runs])
    bench.concurrent_s = spread_json([c.wall_s for _, c in runs])
    bench.tokens = {m: int(np.median([r[i].tokens for r in runs])) for i, m in enumerate(MODES)}
    bench.same_text = all(s.texts == c.texts for s, c in runs)
    alone = [
        t for s, _ in runs for t, k in zip(s.e2e_s, s.kinds, strict=True) if k == "customer_service"
    ]
    loaded = [
        t for _, c in runs for t, k in zip(c.e2e_s, c.kinds, strict=True) if k == "customer_service"
    ]
    if alone and loaded:
        bench.cs_alone_ms = float(np.median(alone)) * 1e3
        bench.cs_p99_loaded_ms = float(percentile(loaded, 99)) * 1e3
        bench.cs_p99_ratio = bench.cs_p99_loaded_ms / bench.cs_alone_ms
    bench.rounds_detail = [
        {m.mode: {k: v for k, v in asdict(m).items() if k != "texts"} for m in pair}
        for pair in runs
    ]
    return bench


async def _request(
    client: Any, model: str, messages: list[dict[str, str]], max_tokens: int
) -> tuple[float, int, str]:
    t0 = time.perf_counter()
    resp = await client.chat.completions.create(
        model=model, messages=messages, max_tokens=max_tokens, temperature=0.0
    )
    text = resp.choices[0].message.content or ""
    return time.perf_counter() - t0, resp.usage.completion_tokens, text


async def _mode(
    base_url: str, mode: str, jobs: list[tuple[str, list[dict[str, str]], int]]
) -> LoadRound:
    import openai

    # openai's own pool allows far more connections than any N here
    async with openai.AsyncOpenAI(
        base_url=base_url, api_key="unused", max_retries=0, timeout=600
    ) as client:
        model = (await client.models.list()).data[0].id
        await _request(client, model, [{"role": "user", "content": "Say hello."}], 8)  # warm-up
        t0 = time.perf_counter()
        if mode == "sequential":
            done = [await _request(client, model, m, n) for _, m, n in jobs]
        else:
            done = list(await asyncio.gather(*(_request(client, model, m, n) for _, m, n in jobs)))
        wall = time.perf_counter() - t0
    return LoadRound(
        mode, wall, sum(d[1] for d in done), [d[0] for d in done], [k for k, _, _ in jobs],
        [d[2] for d in done],
    )  # fmt: skip


def run_load_bench(
    *,
    clients: int = 16,
    rounds: int = 3,
    threads: int = 2,
    slots: int | None = None,
    server_args: list[str] | None = None,
    seed: int = 0,
    scale: float = 1.0,
) -> LoadBench:
    """Run both modes for ``rounds`` rounds on fresh servers (see the module doc).

    Args:
        clients: requests in the workload, all sent at once in ``concurrent``.
        rounds: rounds (each runs both modes, order flipped every round).
        threads: the server's ``--threads``.
        slots: the server's ``--slots`` (default: ``clients``).
        server_args: more ``agentkit serve`` flags, the same for every server.
        seed: the workload's seed.
        scale: multiplies the output lengths (0.25 for smoke tests).

    Raises:
        ValueError: ``clients`` or ``rounds`` < 1.
        ModelUnavailableError: a server did not start.
    """
    from agentkit._local_server import LocalServer
    from engine.bench._machine import machine_info
    from engine.bench._workload import workload_messages

    if clients < 1 or rounds < 1 or (slots is not None and slots < 1):
        raise ValueError(
            f"clients, rounds and slots must be >= 1, got {clients}, {rounds}, {slots}"
        )
    slots = slots or clients
    extra = ["--slots", str(slots), *(server_args or [])]
    jobs = workload_messages(clients, seed, scale)
    runs: list[tuple[LoadRound, LoadRound]] = []
    for r in range(rounds):
        got: dict[str, LoadRound] = {}
        for mode in MODES if r % 2 == 0 else MODES[::-1]:
            with LocalServer(threads=threads, extra_args=extra) as server:
                got[mode] = asyncio.run(_mode(server.base_url, mode, jobs))
        runs.append((got["sequential"], got["concurrent"]))
    bench = LoadBench(clients, rounds, threads, slots, extra, machine=machine_info())
    return summarise_load(bench, runs)
