"""`EngineModel`: the in-process engine behind the `Model` seam (the default fast tier).

``engine`` (and so torch) is imported only inside methods: importing
``agentkit`` stays light, and an app that only uses remote tiers never loads
torch. The chat template of the default model knows no tools, so tools go
through the prompt (`agentkit._tool_prompt`): the reply is decoded under a
JSON schema, which makes every tool call well-formed, and the answer is
unwrapped while it streams.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import aclosing
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread

from agentkit._errors import BackendError
from agentkit._messages import Message, ToolSchema, Usage
from agentkit._model import (
    FinishEvent,
    FinishReason,
    ModelEvent,
    ModelResponse,
    SamplingSettings,
    SpeculativeStats,
    StreamStatsEvent,
    TextDeltaEvent,
    ToolCallEvent,
    UsageEvent,
)
from agentkit._prompt_ids import PromptIds
from agentkit._tool_prompt import (
    AnswerStream,
    parse_reply,
    plain_turns,
    reply_schema,
    to_plain_messages,
)

if TYPE_CHECKING:
    from engine import Engine

__all__ = ["EngineModel"]


def _spec(stats: Any) -> SpeculativeStats:
    """Our statistics from the engine's (same fields; engine types stay out of our API)."""
    return SpeculativeStats(
        mode=stats.mode,
        drafted=stats.drafted,
        accepted=stats.accepted,
        acceptance_rate=stats.acceptance_rate,
        target_steps=stats.target_steps,
        mean_accepted_length=stats.mean_accepted_length,
        fallback_reason=stats.fallback_reason,
    )


class EngineModel:
    """The bundled engine as a `Model`.

    Args:
        engine: A loaded `engine.Engine`; None loads ``path`` on first use
            (in a worker thread, so the event loop is not blocked).
        path: What to load when ``engine`` is None (``"default"``: SmolLM2-135M).
        native_tools: The model's chat template renders tools itself; otherwise
            tools go through the prompt with schema-constrained replies.
        name: Name shown in results.
        load_options: Extra arguments of `engine.Engine.load`.
    """

    def __init__(
        self,
        engine: Engine | None = None,
        *,
        path: str = "default",
        native_tools: bool = False,
        name: str = "engine",
        **load_options: Any,
    ) -> None:
        self._engine = engine
        self._path = path
        self._load_options = load_options
        self._lock: anyio.Lock | None = None
        self._prompt_ids: PromptIds | None = None
        self.native_tools = native_tools
        self._name = name

    @property
    def name(self) -> str:
        """The model's name in results."""
        return self._name

    async def engine(self) -> Engine:
        """The engine, loading it on first use."""
        if self._engine is None:
            self._lock = self._lock or anyio.Lock()
            async with self._lock:
                if self._engine is None:
                    from engine import Engine

                    self._engine = await anyio.to_thread.run_sync(
                        lambda: Engine.load(self._path, **self._load_options)
                    )
        return self._engine

    def _ids(self, engine: Engine) -> PromptIds:
        """Prompts counted by `count_chat_tokens`, kept for `stream` (tokenised once)."""
        if self._prompt_ids is None:
            self._prompt_ids = PromptIds(engine.encode, fits=engine.max_seq_len)
        return self._prompt_ids

    def _prepare(
        self,
        engine: Engine,
        messages: Sequence[Message],
        tools: Sequence[ToolSchema],
        settings: SamplingSettings,
    ) -> tuple[str, Any, bool]:
        """The prompt, the engine's sampling parameters, and whether replies are wrapped."""
        from engine import SamplingParams

        wrapped = bool(tools) and not self.native_tools
        answer_only = settings.tool_choice == "none"
        schema = reply_schema(() if answer_only else tools) if wrapped else settings.json_schema
        if wrapped:
            shown = to_plain_messages(messages, tools)
        else:  # earlier tool turns must still render on a template that knows no tools
            shown = list(messages) if self.native_tools else plain_turns(messages)
        native = list(tools) if tools and self.native_tools and not answer_only else None
        prompt = engine.render_chat([m.to_openai() for m in shown], tools=native)
        params = SamplingParams(
            temperature=settings.temperature,
            top_k=settings.top_k,
            top_p=settings.top_p,
            seed=settings.seed,
            max_tokens=settings.max_tokens,
            stop=settings.stop,
            logprobs=True,  # mean log-probability feeds mid-stream escalation
            json_schema=schema,
        )
        return prompt, params, wrapped

    async def count_chat_tokens(
        self, messages: Sequence[Message], tools: Sequence[ToolSchema] = ()
    ) -> tuple[int, int]:
        """Tokens of the prompt `stream` would feed the engine, and the engine's context.

        The prompt is rendered as `stream` renders it (chat template, tools in
        the prompt), so the HTTP server's length check counts what the engine
        will see (``agentkit.server._backend.ChatTokenCounter``).

        Raises:
            engine.ChatTemplateError: The chat template rejected the conversation.
        """
        engine = await self.engine()
        prompt, _, _ = self._prepare(engine, messages, tools, SamplingSettings())
        return await self._ids(engine).count(prompt), engine.max_seq_len

    async def stream(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSchema] = (),
        settings: SamplingSettings | None = None,
        deadline: float | None = None,
    ) -> AsyncIterator[ModelEvent]:
        """Generate with the engine, streaming text and running statistics.

        Raises:
            BackendError: The engine refused the request (context overflow, no
                free slot, an invalid schema); the loop falls back.
        """
        from engine import CapacityError, EngineError, GenerationResult
        from engine import StatsEvent as EngineStats
        from engine import TextDelta as EngineText

        engine = await self.engine()
        try:
            prompt, params, wrapped = self._prepare(
                engine, messages, tools, settings or SamplingSettings()
            )
            ids = await self._ids(engine).take(prompt)  # counted already, or off the loop
            unwrap = AnswerStream() if wrapped else None
            result: Any = None
            async with aclosing(engine.stream(ids, params, deadline)) as events:
                async for event in events:
                    if isinstance(event, EngineText):
                        text = unwrap.feed(event.text) if unwrap else event.text
                        if text:
                            yield TextDeltaEvent(text=text)
                    elif isinstance(event, EngineStats):
                        logprob = event.mean_logprob if event.completion_tokens else None
                        spec = _spec(event.speculative)
                        yield StreamStatsEvent(
                            stats=spec, tokens=event.completion_tokens, mean_logprob=logprob
                        )
                    elif isinstance(event, GenerationResult):
                        result = event
        except EngineError as exc:  # the cause is kept: the HTTP server maps it by type
            retryable = isinstance(exc, CapacityError)  # a full queue or no slot: later may do
            raise BackendError(f"engine: {exc}", backend=self.name, retryable=retryable) from exc
        for closing in _ending(result, unwrap):
            yield closing

    async def complete(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSchema] = (),
        settings: SamplingSettings | None = None,
        deadline: float | None = None,
    ) -> ModelResponse:
        """Generate one whole message (collects `stream`)."""
        text: list[str] = []
        calls = []
        usage = Usage()
        spec: SpeculativeStats | None = None
        finish: FinishReason = "stop"
        stream = self.stream(messages, tools=tools, settings=settings, deadline=deadline)
        async for event in stream:
            if isinstance(event, TextDeltaEvent):
                text.append(event.text)
            elif isinstance(event, ToolCallEvent):
                calls.append(event.call)
            elif isinstance(event, UsageEvent):
                usage = event.usage
            elif isinstance(event, StreamStatsEvent) and event.final:
                spec = event.stats
            elif isinstance(event, FinishEvent):
                finish = event.reason
        message = Message.assistant("".join(text) or None, calls or None)
        return ModelResponse(
            message=message, finish_reason=finish, usage=usage, speculative=spec, model=self.name
        )


def _ending(result: Any, unwrap: AnswerStream | None) -> list[ModelEvent]:
    """The closing events: a decoded tool call, usage, final statistics, finish."""
    if result is None:  # the stream was cut before the engine reported
        return [FinishEvent(reason="deadline")]
    events: list[ModelEvent] = []
    finish: FinishReason = result.finish_reason
    if unwrap is not None and unwrap.mode in ("tool", "unknown") and finish in ("stop", "length"):
        parsed = parse_reply(result.text, f"call_{uuid.uuid4().hex[:12]}")
        if parsed.call is not None:
            events.append(ToolCallEvent(call=parsed.call))
            finish = "tool_calls"
        elif parsed.answer:
            events.append(TextDeltaEvent(text=parsed.answer))
    usage = Usage(prompt_tokens=result.prompt_tokens, completion_tokens=result.completion_tokens)
    events.append(UsageEvent(usage=usage))
    events.append(
        StreamStatsEvent(
            stats=_spec(result.speculative), tokens=result.completion_tokens, final=True
        )
    )
    events.append(FinishEvent(reason=finish))
    return events
