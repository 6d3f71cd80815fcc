"""Static batching, the baselines of `engine.bench.batching`: fixed batches, released together.

`run_static` is the batcher: closed-loop clients wait until a full batch of
requests is there, the batch runs, and every request of it completes when
the last one does. A batch runs either on the scheduler (`scheduler_batch`:
the ``static`` mode, with the same compute thread, prefix cache and
speculation as ``dynamic``) or padded (`padded_batch`, ``static_padded``):
every prompt right-padded to the batch's longest and every row computed
until the longest output ends: the pad rows are real work, counted in a
`RowMeter`. Pad rows write K/V only at positions a real row later overwrites
or never reads, so the real rows' tokens are unchanged.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import anyio
import torch

from engine._engine import Engine
from engine._sequence import Sequence, accept_token
from engine._types import GenerationResult, SamplingParams
from engine.bench._workload import Job, Record
from engine.scheduler import Scheduler
from engine.scheduler._buckets import RowMeter

__all__ = [
    "StaticOutcome",
    "padded_batch",
    "run_static",
    "run_static_batch",
    "scheduler_batch",
    "timed",
]

_PAD = 0


@dataclass(frozen=True)
class StaticOutcome:
    """One static batch.

    Attributes:
        outputs: generated token ids per request.
        first_token_at: ``time.monotonic()`` when the padded prefill ended.
        done_at: when the last row ended (every request completes then).
    """

    outputs: list[list[int]]
    first_token_at: float
    done_at: float


def _forward(
    engine: Engine, rows: list[tuple[int, int, int]], logit_rows: list[int] | None = None
) -> torch.Tensor:
    tokens, slots, positions = (torch.tensor(c, dtype=torch.long) for c in zip(*rows, strict=True))
    need = None if logit_rows is None else torch.tensor(logit_rows, dtype=torch.long)
    with engine._lock:  # (R, V), or (len(logit_rows), V)
        return engine.model.forward(tokens, slots, positions, engine.cache, need)


def run_static_batch(
    engine: Engine,
    prompts: list[list[int]],
    params: list[SamplingParams],
    meter: RowMeter,
    chunk: int = 64,
) -> StaticOutcome:
    """Run one padded batch to completion (blocking).

    Args:
        engine: an engine with a free slot per prompt (its own scheduler idle).
        prompts: prompt token ids per request.
        params: sampling parameters per request.
        meter: counts rows and pad rows.
        chunk: positions per prefill forward (all rows of the batch at each).
    """
    seqs: list[Sequence] = [
        engine.new_sequence(p, sp) for p, sp in zip(prompts, params, strict=True)
    ]
    cache, max_len = engine.cache, engine.max_seq_len
    try:
        longest = max(len(p) for p in prompts)
        for c in range(0, longest, chunk):
            span = range(c, min(c + chunk, longest))
            rows = [
                (s.prompt[i] if i < len(s.prompt) else _PAD, s.slot, i) for s in seqs for i in span
            ]
            # the head only on prompts' last rows, as the dynamic scheduler does
            ends = [(s, b * len(span) + len(s.prompt) - 1 - c) for b, s in enumerate(seqs)
                    if len(s.prompt) - 1 in span]  # fmt: skip
            logits = _forward(engine, rows, [r for _, r in ends])
            meter.add(len(rows), sum(1 for s in seqs for i in span if i >= len(s.prompt)))
            for (s, _), row_logits in zip(ends, logits, strict=True):
                accept_token(s, row_logits, max_len)
        for s in seqs:
            cache.lengths[s.slot] = len(s.prompt)
        first = time.monotonic()
        while any(s.finish_reason is None for s in seqs):
            rows = [(s.output[-1], s.slot, min(cache.lengths[s.slot], max_len - 1)) for s in seqs]
            logits = _forward(engine, rows)
            live = [s.finish_reason is None for s in seqs]
            meter.add(len(rows), live.count(False))
            for s, row, is_live in zip(seqs, logits, live, strict=True):
                if is_live:
                    cache.lengths[s.slot] += 1
                    accept_token(s, row, max_len)
        return StaticOutcome([list(s.output) for s in seqs], first, time.monotonic())
    finally:
        for s in seqs:
            engine.release(s)


async def timed(sched: Scheduler, job: Job) -> tuple[int, float, float]:
    """(completion tokens, first event at, end at) of one request (``time.monotonic``)."""
    first: float | None = None
    result: GenerationResult | None = None
    async for ev in sched.submit(job.prompt, SamplingParams(max_tokens=job.max_tokens)):
        if first is None:
            first = time.monotonic()
        if isinstance(ev, GenerationResult):
            result = ev
    end = time.monotonic()
    return (result.completion_tokens if result is not None else 0), first or end, end


Batch = list[tuple[Job, float]]  # (job, submitted at)
RunBatch = Callable[[Batch], Awaitable[list[Record]]]


async def scheduler_batch(sched: Scheduler, batch: Batch) -> list[Record]:
    """Run a batch together on the scheduler; every request ends when the last one does."""
    out: list[tuple[int, float]] = [(0, 0.0)] * len(batch)

    async def run(i: int, job: Job) -> None:
        n, first, _ = await timed(sched, job)
        out[i] = (n, first)

    async with anyio.create_task_group() as tg:
        for i, (job, _) in enumerate(batch):
            tg.start_soon(run, i, job)
    done = time.monotonic()
    return [Record(j.kind, n, done - t0, first - t0)
            for (j, t0), (n, first) in zip(batch, out, strict=True)]  # fmt: skip


def padded_batch(engine: Engine, meter: RowMeter) -> RunBatch:
    """`run_static_batch` on the engine's compute thread (``static_padded``)."""

    def run(batch: Batch) -> StaticOutcome:
        prompts = [j.prompt for j, _ in batch]
        params = [SamplingParams(max_tokens=j.max_tokens) for j, _ in batch]
        work = functools.partial(run_static_batch, engine, prompts, params, meter)
        return engine.compute.call(work) if engine.compute else work()

    async def run_batch(batch: Batch) -> list[Record]:
        out = await anyio.to_thread.run_sync(run, batch)
        return [Record(j.kind, len(toks), out.done_at - t0, out.first_token_at - t0)
                for (j, t0), toks in zip(batch, out.outputs, strict=True)]  # fmt: skip

    return run_batch


async def run_static(clients: list[list[Job]], size: int, run_batch: RunBatch) -> list[Record]:
    """Closed-loop clients against a batcher that waits for a full batch of ``size``."""
    recs: list[Record] = []
    pending: list[tuple[Job, float, anyio.Event, list[Record]]] = []
    active = [len(clients)]
    wake = [anyio.Event()]

    async def client(jobs: list[Job]) -> None:
        for job in jobs:
            done, box = anyio.Event(), list[Record]()
            pending.append((job, time.monotonic(), done, box))
            wake[0].set()
            await done.wait()
            recs.extend(box)
        active[0] -= 1
        wake[0].set()

    async def batcher() -> None:
        while active[0] > 0 or pending:
            if len(pending) < min(size, active[0]) or not pending:
                wake[0] = anyio.Event()
                await wake[0].wait()
                continue
            batch, pending[:] = pending[:size], pending[size:]
            out = await run_batch([(job, t0) for job, t0, *_ in batch])
            for (_, _, done, box), rec in zip(batch, out, strict=True):
                box.append(rec)
                done.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(batcher)
        for jobs in clients:
            tg.start_soon(client, jobs)
    return recs
