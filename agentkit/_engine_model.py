"""`EngineModel`: the in-process engine behind the `Model` seam (the default fast tier).

``engine`` (and so torch) is imported only inside methods: importing
``agentkit`` stays light, and an app that only uses remote tiers never loads
torch. The chat template of the default model knows no tools, so tools go
through the prompt (`agentkit._tool_prompt`): the reply is decoded under a
JSON schema, which makes every tool call well-formed, and the answer is
unwrapped while it streams.

Warm start: an `EngineModel` built without an engine starts loading one at
once, in a background thread, and primes it there (`agentkit._engine_loading`:
one short generation, plain and under a JSON schema, so the kernels' first
calls and the grammar tokenizer are paid for before any turn). A turn that
finds it still loading waits for it outside its budget (`ready`); `warm` also
primes the agent's own prompt into the prefix cache (`Runner.start`).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import Future
from contextlib import aclosing
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread

from agentkit._engine_loading import load_in_background, wait_for
from agentkit._errors import BackendError
from agentkit._logprobs import logprob_entries
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
        engine: A loaded `engine.Engine` (used as given: not primed until `warm`);
            None loads ``path``.
        path: What to load when ``engine`` is None (``"default"``: SmolLM2-135M).
        native_tools: The model's chat template renders tools itself; otherwise
            tools go through the prompt with schema-constrained replies.
        name: Name shown in results.
        lazy: Load on first use, inside that turn (the old behaviour), instead of
            starting now in a background thread.
        load_options: Extra arguments of `engine.Engine.load`.
    """

    def __init__(
        self,
        engine: Engine | None = None,
        *,
        path: str = "default",
        native_tools: bool = False,
        name: str = "engine",
        lazy: bool = False,
        **load_options: Any,
    ) -> None:
        self._engine = engine
        self._path = path
        self._load_options = load_options
        self._lock: anyio.Lock | None = None
        self._prompt_ids: PromptIds | None = None
        self.native_tools = native_tools
        self._name = name
        self._loading: Future[Engine] | None = None
        if engine is None and not lazy:
            self._loading = load_in_background(path, load_options, name)

    @property
    def name(self) -> str:
        """The model's name in results."""
        return self._name

    async def engine(self) -> Engine:
        """The engine: the one loading in the background, else loaded now (``lazy``).

        Raises:
            engine.EngineError: Loading failed (a background load's error is
                raised once; the next call loads again, in the caller's time).
        """
        if self._engine is None:
            self._lock = self._lock or anyio.Lock()
            async with self._lock:
                if self._engine is None and self._loading is not None:
                    try:
                        self._engine = await wait_for(self._loading)
                    except Exception:
                        self._loading = None
                        raise
                if self._engine is None:
                    from engine import Engine

                    self._engine = await anyio.to_thread.run_sync(
                        lambda: Engine.load(self._path, **self._load_options)
                    )
        return self._engine

    @property
    def loading(self) -> bool:
        """Whether a background load started at construction is still running."""
        return self._loading is not None and not self._loading.done()

    async def ready(self) -> None:
        """Wait for the background load started at construction, if one is running.

        Never raises: a failed load surfaces where the engine is used. A model
        built with ``lazy=True`` (or with an engine) returns at once. The runner
        calls this before a turn's budget starts (`TurnResult.warmup_ms`).
        """
        if self._loading is not None:
            with contextlib.suppress(Exception):
                await wait_for(self._loading)

    async def warm(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSchema] = (),
        settings: SamplingSettings | None = None,
    ) -> None:
        """Load the engine (now, if it is not loading yet) and prime it with this prompt.

        One generation of a single token over ``messages``, rendered as a turn
        renders them (tools in the prompt, the reply schema): the kernels' first
        calls, the grammar tokenizer and the prompt's prefix in the cache are
        paid for here, not by the first turn. `Runner.start` passes the agent's
        system prompt, tools and settings.

        Raises:
            BackendError: The engine could not load or run the primer.
        """
        from engine import EngineError

        try:
            await self.engine()
        except EngineError as exc:
            raise BackendError(f"engine: {exc}", backend=self.name) from exc
        one = (settings or SamplingSettings()).model_copy(update={"max_tokens": 1})
        async for _ in self.stream(messages, tools=tools, settings=one):
            pass

    async def aclose(self) -> None:
        """Stop the engine's scheduler (a later call starts it again)."""
        if self._engine is not None:
            await anyio.to_thread.run_sync(self._engine.close)

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
        typed = settings.json_schema  # an output type's schema: the answer's, under tools
        schema = reply_schema(() if answer_only else tools, typed) if wrapped else typed
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
            # per-token logprobs only for plain text: an unwrapped answer has no tokens of its own
            top_logprobs=None if wrapped else settings.top_logprobs,
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
                        if text or event.logprobs:
                            lps = logprob_entries(engine, event.logprobs)
                            yield TextDeltaEvent(text=text, logprobs=lps)
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
        for closing in _ending(result, unwrap, prompt):
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


def call_id(prompt: str, reply: str) -> str:
    """A tool call's id: ``call_`` and 12 hex digits of a hash of the prompt and the reply.

    Deterministic, so the same conversation gives the same ids, and the prompts
    that carry them (the next call's, the deep tier's) are the same from run to
    run: with random ids a small model's greedy answer changed between runs of
    the demo. Unique within a conversation, whose prompt grows with every call.
    """
    digest = hashlib.blake2b(f"{prompt}\x00{reply}".encode(), digest_size=6).hexdigest()
    return f"call_{digest}"


def _ending(result: Any, unwrap: AnswerStream | None, prompt: str) -> list[ModelEvent]:
    """The closing events: a decoded tool call, usage, final statistics, finish."""
    if result is None:  # the stream was cut before the engine reported
        return [FinishEvent(reason="deadline")]
    events: list[ModelEvent] = []
    finish: FinishReason = result.finish_reason
    held = ("tool", "value", "unknown")
    if unwrap is not None and unwrap.mode in held and finish in ("stop", "length"):
        parsed = parse_reply(result.text, call_id(prompt, result.text))
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
