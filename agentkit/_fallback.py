"""`FallbackModel`: ordered fallbacks across models, inside one deadline.

``Agent(deep=[model_a, model_b])`` wraps the list in a `FallbackModel`. Each
call tries the models in order until one answers:

- every model keeps its own resilience (an `OpenAIModel`'s retries, timeouts
  and circuit breaker): a model fails over once its own policy gives up;
- one deadline spans the call: a later model gets what is left of it; a model
  whose breaker is open is skipped at once, without a request;
- any `BackendError` fails over (a 4xx included: another provider may accept
  the request); cancellation and other exceptions (bugs) are not caught;
- a stream fails over only before its first text or tool call was yielded;
  after that the text already sent stands, and the failure is raised, never
  answered again by the next model (the agent loop then finishes the answer on
  the other tier, continuing the text instead of repeating it).

Each model tried is recorded as an `Attempt` on the tier call's `Hop` (which
model answered, and why the earlier ones did not) and as a ``model.fallback``
span in the turn's trace.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import aclosing, contextmanager
from contextvars import ContextVar
from types import TracebackType
from typing import Literal

from agentkit._breaker import CircuitBreaker
from agentkit._errors import BackendError, ConfigError, ModelUnavailableError
from agentkit._genai import model_attributes
from agentkit._messages import Message, ToolSchema, Usage
from agentkit._model import (
    FinishEvent,
    Model,
    ModelEvent,
    ModelResponse,
    SamplingSettings,
    TextDeltaEvent,
    ToolCallEvent,
    UsageEvent,
)
from agentkit._result import Attempt, ErrorInfo
from agentkit._tracing import current_trace

__all__ = ["FallbackModel", "recording_attempts"]

_ATTEMPTS: ContextVar[list[Attempt] | None] = ContextVar("agentkit_attempts", default=None)

AttemptOutcome = Literal["done", "failed", "skipped", "deadline", "cancelled"]


@contextmanager
def recording_attempts() -> Iterator[list[Attempt]]:
    """Collect the `Attempt`s of the `FallbackModel` calls made inside the block."""
    attempts: list[Attempt] = []
    token = _ATTEMPTS.set(attempts)
    try:
        yield attempts
    finally:
        _ATTEMPTS.reset(token)


def _skip_reason(model: Model, deadline: float | None) -> ErrorInfo | None:
    """Why ``model`` is not worth a request now, if it is not."""
    if deadline is not None and time.monotonic() >= deadline:
        return ErrorInfo(type="deadline", message="no time left")
    breaker = getattr(model, "breaker", None)
    if isinstance(breaker, CircuitBreaker) and breaker.state == "open":
        return ErrorInfo(type="ModelUnavailableError", message="circuit breaker open")
    return None


class _Try:
    """One model's try: an `Attempt` for the tier call and a span for the turn's trace."""

    def __init__(self, index: int, model: Model) -> None:
        self.model = model
        self.outcome: AttemptOutcome = "cancelled"
        self.error: ErrorInfo | None = None
        self.usage = Usage()
        self.sent = False  # text or a tool call went out: too late to fail over
        self._start = time.perf_counter()
        self._trace = current_trace()
        attributes = model_attributes(model, model.name) | {"agentkit.fallback.index": index}
        self._span = self._trace.start("model.fallback", attributes) if self._trace else None

    def see(self, event: ModelEvent) -> None:
        """Note what a streamed event says about this try."""
        if (isinstance(event, TextDeltaEvent) and event.text) or isinstance(event, ToolCallEvent):
            self.sent = True
        elif isinstance(event, UsageEvent):
            self.usage = self.usage + event.usage
        elif isinstance(event, FinishEvent):
            self.outcome = "deadline" if event.reason == "deadline" else "done"

    def fail(self, exc: BackendError) -> None:
        """The model failed."""
        self.outcome = "failed"
        self.error = ErrorInfo(type=type(exc).__name__, message=str(exc)[:500])

    def skip(self, why: ErrorInfo) -> None:
        """The model was not tried."""
        self.outcome, self.error = "skipped", why

    def __enter__(self) -> _Try:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        elapsed_ms = (time.perf_counter() - self._start) * 1000.0
        attempt = Attempt(
            model=self.model.name, outcome=self.outcome, error=self.error, elapsed_ms=elapsed_ms
        )
        attempts = _ATTEMPTS.get()
        if attempts is not None:
            attempts.append(attempt)
        if self._trace is not None and self._span is not None:
            self._span.attributes.update(_span_facts(attempt, self.usage))
            self._trace.finish(self._span)


def _span_facts(attempt: Attempt, usage: Usage) -> dict[str, str | int]:
    facts: dict[str, str | int] = {
        "agentkit.outcome": attempt.outcome,
        "gen_ai.usage.input_tokens": usage.prompt_tokens,
        "gen_ai.usage.output_tokens": usage.completion_tokens,
    }
    if attempt.outcome == "done":
        facts["gen_ai.response.model"] = attempt.model
    if attempt.error is not None:
        facts["error.type"] = attempt.error.type
    return facts


class _Failures:
    """Why each model did not answer, for the error raised when none did."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.last: BackendError | None = None
        self.only_time = True  # every model was skipped for lack of time

    def skipped(self, model: Model, why: ErrorInfo) -> None:
        self.lines.append(f"{model.name}: {why.message}")
        self.only_time = self.only_time and why.type == "deadline"

    def failed(self, model: Model, exc: BackendError) -> None:
        self.lines.append(f"{model.name}: {str(exc)[:200]}")
        self.last, self.only_time = exc, False

    def error(self, backend: str) -> BackendError:
        error = ModelUnavailableError(
            "no fallback model answered: " + "; ".join(self.lines), backend=backend
        )
        error.__cause__ = self.last
        return error


class FallbackModel:
    """Models tried in order until one answers, within the caller's one deadline.

    Implements `Model`; ``Agent(deep=[a, b])`` builds one. See the module
    docstring for when it fails over.

    Args:
        models: The models, most preferred first.
        name: A name for logs and results (default ``fallback(a, b)``).

    Raises:
        ConfigError: No models, or an item that is not a `Model`.

    Example:
        >>> import anyio
        >>> from agentkit import Message, ScriptedModel
        >>> from agentkit.errors import ModelUnavailableError
        >>> down = ScriptedModel([ModelUnavailableError("down")], name="a")
        >>> model = FallbackModel([down, ScriptedModel(["Hi from b."], name="b")])
        >>> reply = anyio.run(model.complete, [Message.user("hi")])
        >>> (reply.text, reply.model)
        ('Hi from b.', 'b')
    """

    def __init__(self, models: Sequence[Model], *, name: str | None = None) -> None:
        self.models = tuple(models)
        if not self.models:
            raise ConfigError("models", "a FallbackModel needs at least one model")
        for model in self.models:
            if not isinstance(model, Model):
                raise ConfigError("models", f"{model!r} is not a Model (name, complete, stream)")
        self._name = name or "fallback(" + ", ".join(m.name for m in self.models) + ")"
        providers = {model_attributes(m, m.name)["gen_ai.provider.name"] for m in self.models}
        self.provider = providers.pop() if len(providers) == 1 else "multiple"

    @property
    def name(self) -> str:
        """The name given, or ``fallback(<model names>)``."""
        return self._name

    async def complete(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSchema] = (),
        settings: SamplingSettings | None = None,
        deadline: float | None = None,
    ) -> ModelResponse:
        """The first answer of the models in order; ``model`` names the one that answered.

        Raises:
            ModelUnavailableError: Every model failed or was skipped (the message
                says why each did not answer).
        """
        failures = _Failures()
        for index, model in enumerate(self.models):
            with _Try(index, model) as attempt:
                why = _skip_reason(model, deadline)
                if why is not None:
                    attempt.skip(why)
                    failures.skipped(model, why)
                    continue
                try:
                    response = await model.complete(
                        messages, tools=tools, settings=settings, deadline=deadline
                    )
                except BackendError as exc:
                    attempt.fail(exc)
                    failures.failed(model, exc)
                    continue
                attempt.usage = response.usage
                attempt.outcome = "deadline" if response.finish_reason == "deadline" else "done"
                return response.model_copy(update={"model": response.model or model.name})
        if failures.only_time:
            # The deadline passed before any model could try: the `Model` contract's
            # answer is an empty ``deadline`` finish, not a backend failure.
            return ModelResponse(
                message=Message.assistant(""), finish_reason="deadline", model=self.name
            )
        raise failures.error(self.name)

    async def stream(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSchema] = (),
        settings: SamplingSettings | None = None,
        deadline: float | None = None,
    ) -> AsyncIterator[ModelEvent]:
        """The first model's stream that gets going; fails over only before its first token.

        Raises:
            BackendError: A stream broke after text or a tool call was yielded
                (what was yielded stays valid), or every model failed or was
                skipped (`ModelUnavailableError`, saying why each did not answer).
        """
        failures = _Failures()
        for index, model in enumerate(self.models):
            with _Try(index, model) as attempt:
                why = _skip_reason(model, deadline)
                if why is not None:
                    attempt.skip(why)
                    failures.skipped(model, why)
                    continue
                stream = model.stream(messages, tools=tools, settings=settings, deadline=deadline)
                try:
                    async with aclosing(stream) as events:  # type: ignore[type-var]
                        async for event in events:
                            attempt.see(event)
                            yield event
                except BackendError as exc:
                    attempt.fail(exc)
                    if attempt.sent:
                        raise  # the user has its text: report the failure, never repeat
                    failures.failed(model, exc)
                    continue
                if attempt.outcome == "cancelled":  # a stream without a FinishEvent
                    attempt.outcome = "done"
                return
        if failures.only_time:
            yield FinishEvent(reason="deadline")  # no model could try: see `complete`
            return
        raise failures.error(self.name)
