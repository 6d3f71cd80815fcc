"""Static batching, the baseline: fixed batches padded to the longest, run to the end together.

Every prompt is right-padded to the batch's longest and every row keeps being
computed until the longest output ends: the pad rows are real work, counted
in a `RowMeter`. Pad rows write K/V only at positions a real row later
overwrites or never reads, so the real rows' tokens are unchanged.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from engine._engine import Engine
from engine._sequence import Sequence, accept_token
from engine._types import SamplingParams
from engine.scheduler._buckets import RowMeter

__all__ = ["StaticOutcome", "run_static_batch"]

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
