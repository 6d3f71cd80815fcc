"""One request through the production path, timed: what the engine benchmarks run.

`generate` calls `Engine.generate` itself; `generate_with` runs a scheduler
of the engine's (the one `Engine.generate` runs, with its driver on the
engine's compute thread) with the speculation configuration under test.
Both decode greedily with EOS ignored, so every configuration emits the same
number of tokens, and read the times the engine reports with the result
(`GenerationResult.ttft_ms`, ``decode_ms``): what the server reports too.

Example::

    engine = Engine.load("default", speculation=False, scheduler=NO_PREFIX_CACHE)
    run = generate(engine, engine.encode("Hello"), 64)
    print(len(run.tokens) - 1, "tokens in", run.decode_s, "s after the first")
"""

from __future__ import annotations

from contextlib import aclosing
from dataclasses import dataclass

import anyio

from engine._engine import Engine
from engine._types import GenerationResult, SamplingParams, SpeculativeStats
from engine.scheduler import Scheduler, SchedulerConfig
from engine.speculative._factory import DrafterFactory

__all__ = ["NO_PREFIX_CACHE", "TimedRun", "generate", "generate_with"]

# Benchmarks repeat one prompt: with the prefix cache on, every run after the first
# would time a cache hit instead of a prefill (llama.cpp's runs reset their cache too).
NO_PREFIX_CACHE = SchedulerConfig(prefix_cache=False)


@dataclass(frozen=True)
class TimedRun:
    """One generation.

    Attributes:
        tokens: the generated token ids.
        ttft_s: submission to the first token.
        decode_s: the first token to the last.
        speculative: the request's speculation statistics (mode "off" when plain).
    """

    tokens: list[int]
    ttft_s: float
    decode_s: float
    speculative: SpeculativeStats

    @classmethod
    def of(cls, result: GenerationResult) -> TimedRun:
        """The run ``result`` reports."""
        return cls(
            result.token_ids, result.ttft_ms / 1e3, result.decode_ms / 1e3, result.speculative
        )


def _params(new_tokens: int) -> SamplingParams:
    return SamplingParams(max_tokens=new_tokens, ignore_eos=True)


def generate(engine: Engine, ids: list[int], new_tokens: int) -> TimedRun:
    """``Engine.generate`` of ``new_tokens`` greedy tokens after ``ids`` (blocking)."""
    return TimedRun.of(anyio.run(engine.generate, ids, _params(new_tokens)))


async def _collect(sched: Scheduler, ids: list[int], params: SamplingParams) -> GenerationResult:
    async with aclosing(sched.submit(ids, params)) as events:
        async for ev in events:
            if isinstance(ev, GenerationResult):
                return ev
    raise RuntimeError("the request ended without a result")


def generate_with(
    engine: Engine,
    ids: list[int],
    new_tokens: int,
    drafters: DrafterFactory | None,
    config: SchedulerConfig = NO_PREFIX_CACHE,
) -> TimedRun:
    """Generate as `generate` does, on a fresh scheduler of ``engine``'s with ``drafters``.

    Args:
        engine: the engine (its own scheduler is closed first: one driver at a
            time may run on its compute thread).
        ids: prompt token ids.
        new_tokens: tokens to generate.
        drafters: each request's drafters (None: plain decoding).
        config: the scheduler's settings (default: no prefix cache).
    """
    engine.close()
    sched = Scheduler(engine, config, drafters)
    try:
        return TimedRun.of(anyio.run(_collect, sched, ids, _params(new_tokens)))
    finally:
        sched.close()
