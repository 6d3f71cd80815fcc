"""Serving backends over the bundled engine (``engine.Engine``), imported lazily.

`EngineTextBackend` continues raw text for ``/v1/completions`` (no chat
template: a completion endpoint means continuation). A ``suffix`` goes through
the chat template with the `FIM_INSTRUCTION` template, because the default
model has no fill-in-the-middle training.

Chat goes through the agent loop's ``agentkit.EngineModel`` (chat template,
tools through schema-constrained decoding), so there is one chat adapter.

Nothing here imports ``engine`` (and so torch) at module import time: the
engine object is passed in, and its types are reached through it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from typing import Any

from agentkit._logprobs import logprob_entries
from agentkit._messages import Usage
from agentkit._model import (
    FinishEvent,
    ModelEvent,
    SamplingSettings,
    SpeculativeStats,
    StreamStatsEvent,
    TextDeltaEvent,
    UsageEvent,
)
from agentkit._prompt_ids import PromptIds
from agentkit.server._backend import SlotUsage, TextRequest, render_text_prompt

__all__ = ["EngineTextBackend"]


def _params(engine: Any, settings: SamplingSettings) -> Any:
    from engine import SamplingParams

    del engine
    return SamplingParams(
        temperature=settings.temperature,
        top_k=settings.top_k,
        top_p=settings.top_p,
        seed=settings.seed,
        max_tokens=settings.max_tokens,
        stop=settings.stop,
        json_schema=settings.json_schema,
        top_logprobs=settings.top_logprobs,
    )


def _spec(stats: Any) -> SpeculativeStats:
    return SpeculativeStats(**dataclasses.asdict(stats))


async def _engine_events(
    engine: Any, prompt: list[int], settings: SamplingSettings, deadline: float | None
) -> AsyncGenerator[ModelEvent]:
    """The engine's stream as agentkit events; closing this closes the engine stream."""
    from engine import GenerationResult
    from engine import StatsEvent as EngineStats
    from engine import TextDelta as EngineDelta

    stream = engine.stream(prompt, _params(engine, settings), deadline)
    async with aclosing(stream) as events:
        async for ev in events:
            if isinstance(ev, EngineDelta):
                yield TextDeltaEvent(text=ev.text, logprobs=logprob_entries(engine, ev.logprobs))
            elif isinstance(ev, EngineStats):
                yield StreamStatsEvent(
                    stats=_spec(ev.speculative),
                    tokens=ev.completion_tokens,
                    mean_logprob=ev.mean_logprob,
                )
            elif isinstance(ev, GenerationResult):
                usage = Usage(
                    prompt_tokens=ev.prompt_tokens, completion_tokens=ev.completion_tokens
                )
                yield UsageEvent(usage=usage)
                yield StreamStatsEvent(
                    stats=_spec(ev.speculative), tokens=ev.completion_tokens, final=True
                )
                yield FinishEvent(reason=ev.finish_reason)


class _EngineCounting:
    """`TokenCounter` over the engine's tokenizer and context length."""

    def __init__(self, engine: Any, name: str) -> None:
        self._engine = engine
        self._name = name
        # The server's length check and the generation share one tokenisation.
        self._ids = PromptIds(engine.encode, fits=int(engine.max_seq_len))

    @property
    def name(self) -> str:
        """The served model id."""
        return self._name

    @property
    def context_length(self) -> int:
        """The engine's context per request."""
        return int(self._engine.max_seq_len)

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` under the engine's tokenizer (kept for its generation)."""
        return self._ids.count_sync(text)

    def slot_usage(self) -> SlotUsage:
        """The engine's KV-cache slots: held by a request, out of all (parked prefixes are free)."""
        cache = self._engine.cache
        return SlotUsage(in_use=cache.n_slots - cache.free_slots, total=cache.n_slots)


class EngineTextBackend(_EngineCounting):
    """`TextBackend` over ``engine.Engine``: raw continuation, FIM by instruction.

    Also a `TokenCounter` and a `SlotReporter`. The engine's errors propagate
    as they are; the server maps them to statuses by type.
    """

    @property
    def native_fim(self) -> bool:
        """False: the default model has no fill-in-the-middle tokens."""
        return False

    async def stream_text(self, request: TextRequest) -> AsyncIterator[ModelEvent]:
        """Continue ``request.prompt`` (or fill the gap before ``request.suffix``)."""
        prompt = request.prompt
        if request.suffix is not None:
            messages = render_text_prompt(request.prompt, request.suffix)
            prompt = self._engine.render_chat([m.to_openai() for m in messages])
        ids = await self._ids.take(prompt)  # counted already, or off the loop
        async with aclosing(
            _engine_events(self._engine, ids, request.settings, request.deadline)
        ) as events:
            async for event in events:
                yield event
