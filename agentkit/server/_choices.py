"""``n`` choices of one request: their generations read as one stream, and their totals.

Each choice is its own backend generation, with its own stop guard and, when
the request gives a seed, the seed ``seed + i`` (so choices differ, and a
request repeated with the same seed gets the same choices). Over the engine,
the choices of one prompt share its prefill: the scheduler holds back all but
the first until the first has prefilled the shared prompt, then copies its
K/V into their slots (`engine.scheduler._slots`), so the prompt is computed
once whatever ``n`` (for prompts of at least a prefix-cache block, 16 tokens).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence

import anyio

from agentkit._messages import ToolCall, Usage
from agentkit._model import SamplingSettings, SpeculativeStats
from agentkit.server._generation import Generation

__all__ = [
    "ChoiceStream",
    "Piece",
    "choice_settings",
    "run_once",
    "total_speculative",
    "total_usage",
]

Piece = str | ToolCall
"""A text piece or a whole tool call, as `Generation.pieces` yields them."""

_SEED_LIMIT = 2**63  # the engine's seed range (engine._types.SEED_LIMIT; importing it loads torch)


def choice_settings(settings: SamplingSettings, index: int) -> SamplingSettings:
    """Choice ``index``'s settings: the request's, with seed ``seed + index`` (wrapping at 2^63)."""
    if settings.seed is None or index == 0:
        return settings
    return settings.model_copy(update={"seed": (settings.seed + index) % _SEED_LIMIT})


def run_once(
    work: Callable[[], Awaitable[SamplingSettings]],
) -> Callable[[], Awaitable[SamplingSettings]]:
    """``work`` run by the first caller only; later (and concurrent) callers get its result.

    The choices of a request share one length check: the prompt is counted once.
    """
    lock = anyio.Lock()
    done: list[SamplingSettings] = []

    async def call() -> SamplingSettings:
        async with lock:
            if not done:
                done.append(await work())
        return done[0]

    return call


def total_usage(gens: Sequence[Generation]) -> Usage:
    """The request's usage: the prompt once, the completion tokens of every choice."""
    return Usage(
        prompt_tokens=max(g.usage.prompt_tokens for g in gens),
        completion_tokens=sum(g.usage.completion_tokens for g in gens),
    )


def total_speculative(gens: Sequence[Generation]) -> SpeculativeStats:
    """The choices' speculative statistics summed (one choice: its own)."""
    if len(gens) == 1:
        return gens[0].speculative
    stats = [g.speculative for g in gens]
    drafted = sum(s.drafted for s in stats)
    accepted = sum(s.accepted for s in stats)
    steps = sum(s.target_steps for s in stats)
    modes = {s.mode for s in stats}
    return SpeculativeStats(
        mode=modes.pop() if len(modes) == 1 else "mixed",
        drafted=drafted,
        accepted=accepted,
        acceptance_rate=accepted / drafted if drafted else 0.0,
        target_steps=steps,
        mean_accepted_length=1.0 + accepted / steps if steps else 1.0,
    )


class ChoiceStream:
    """The pieces of several generations as ``(index, piece)`` items, in arrival order.

    ``(index, None)`` says choice ``index`` has ended (its generation is
    closed, its outcome final). One generation is read in the caller's task,
    as before choices existed. Several are read by one asyncio task per
    pending read, so a piece of any choice goes out as soon as it exists; the
    reads are tasks of their own (not of a task group), so the stream may be
    read from the handler's task and then from the response's, as a stream is.
    `aclose` cancels pending reads and closes every generation (the backend
    frees its slots); a choice's error is raised to the reader.
    """

    def __init__(self, gens: Sequence[Generation]) -> None:
        self.gens = list(gens)
        self._pieces = [g.pieces() for g in self.gens]
        self._live = set(range(len(self.gens)))
        self._reads: dict[int, asyncio.Task[Piece | None]] = {}

    def __aiter__(self) -> ChoiceStream:
        """This stream."""
        return self

    async def __anext__(self) -> tuple[int, Piece | None]:
        """The next piece of any choice, or the end of one."""
        if not self._live:
            raise StopAsyncIteration
        if len(self._pieces) == 1:
            index, piece = 0, await anext(self._pieces[0], None)
        else:
            index, piece = await self._first_ready()
        if piece is None:
            self._live.discard(index)
        return index, piece

    async def _first_ready(self) -> tuple[int, Piece | None]:
        for i in sorted(self._live - self._reads.keys()):
            self._reads[i] = asyncio.ensure_future(_read(self._pieces[i]))
        await asyncio.wait(self._reads.values(), return_when=asyncio.FIRST_COMPLETED)
        index = min(i for i, task in self._reads.items() if task.done())  # stable order on ties
        return index, self._reads.pop(index).result()

    async def aclose(self) -> None:
        """Cancel pending reads and close every choice's generation (shielded)."""
        with anyio.CancelScope(shield=True):
            reads = list(self._reads.values())
            self._reads.clear()
            for task in reads:
                task.cancel()
            await asyncio.gather(*reads, return_exceptions=True)
            for pieces in self._pieces:
                await pieces.aclose()
            self._live.clear()


async def _read(pieces: AsyncGenerator[Piece]) -> Piece | None:
    return await anext(pieces, None)
