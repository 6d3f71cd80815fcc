"""The `Model` seam: the one way the agent loop reaches a model.

Every backend (the in-process engine, an OpenAI-compatible endpoint, the test
doubles) implements `Model`. Deadlines are absolute ``time.monotonic()``
seconds; a backend stops at the deadline and reports ``finish_reason="deadline"``
with the text it has, rather than raising.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from agentkit._messages import Message, ToolCall, ToolSchema, Usage

__all__ = [
    "FinishEvent",
    "FinishReason",
    "LogprobEntry",
    "Model",
    "ModelEvent",
    "ModelResponse",
    "SamplingSettings",
    "SpeculativeStats",
    "StreamStatsEvent",
    "TextDeltaEvent",
    "ToolCallEvent",
    "UsageEvent",
]

FinishReason = Literal["stop", "length", "tool_calls", "deadline", "cancelled", "content_filter"]


class SamplingSettings(BaseModel):
    """How to sample. Validated on construction; greedy by default.

    Attributes:
        temperature: 0 means greedy.
        top_p: Nucleus sampling mass, in (0, 1].
        top_k: Keep the k most likely tokens; 0 disables.
        max_tokens: Upper bound on generated tokens.
        stop: Stop strings (not included in the output).
        seed: Seed for reproducible sampling.
        json_schema: Constrain the output to this JSON Schema (where supported).
        tool_choice: ``"auto"``: the model may call a shown tool or answer;
            ``"none"``: it must answer, though the tools stay in the prompt (as
            OpenAI's ``tool_choice``; keeping the prompt unchanged keeps it a
            cache prefix for a local engine).
        top_logprobs: Ask for per-token log-probabilities on `TextDeltaEvent`,
            each with this many most likely alternatives (0: the chosen token
            only); None: not asked. A model that cannot report them ignores it.
    """

    model_config = ConfigDict(frozen=True)

    temperature: float = Field(default=0.0, ge=0.0, le=5.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    top_k: int = Field(default=0, ge=0)
    max_tokens: int = Field(default=256, ge=1, le=1_000_000)
    stop: tuple[str, ...] = ()
    seed: int | None = None
    json_schema: dict[str, Any] | None = None
    tool_choice: Literal["auto", "none"] = "auto"
    top_logprobs: int | None = Field(default=None, ge=0, le=20)


class SpeculativeStats(BaseModel):
    """Speculative-decoding statistics of one generation (zeros when speculation is off).

    ``mean_accepted_length`` is tokens emitted per target forward pass, as vLLM
    defines it: ``1 + accepted / target_steps`` (1.0 for plain decoding).
    """

    model_config = ConfigDict(frozen=True)

    mode: Literal["off", "ngram", "draft", "distilled", "mixed"] = "off"
    drafted: int = 0
    accepted: int = 0
    acceptance_rate: float = 0.0
    target_steps: int = 0
    mean_accepted_length: float = 1.0
    fallback_reason: str | None = None


class LogprobEntry(BaseModel):
    """One generated token and its log-probability, as a client reads it.

    Not ``engine.TokenLogprob``, which holds token ids: this holds text and bytes
    (the shape of OpenAI's ``logprobs.content`` items).

    Attributes:
        token: The token's text; bytes that are not whole UTF-8 characters (a
            token holding part of one) show as ``\\xNN`` escapes.
        logprob: Its log-probability under the model's raw distribution (<= 0;
            -inf for a token a JSON-schema mask forbids).
        token_bytes: The token's exact bytes.
        top_logprobs: The most likely tokens at its place, most likely first
            (entries of those have none of their own).
    """

    model_config = ConfigDict(frozen=True)
    token: str
    logprob: float
    token_bytes: tuple[int, ...] = ()
    top_logprobs: tuple[LogprobEntry, ...] = ()


class TextDeltaEvent(BaseModel):
    """A piece of generated text (not ``engine.TextDelta``, which also carries token ids).

    ``logprobs``: the log-probabilities of the tokens behind this text, when
    they were asked for (`SamplingSettings.top_logprobs`) and the model reports
    them; None otherwise. A model's last delta may have empty text and only
    logprobs.
    """

    model_config = ConfigDict(frozen=True)
    kind: Literal["text"] = "text"
    text: str
    logprobs: tuple[LogprobEntry, ...] | None = None


class ToolCallEvent(BaseModel):
    """A complete, well-formed tool call requested by the model."""

    model_config = ConfigDict(frozen=True)
    kind: Literal["tool_call"] = "tool_call"
    call: ToolCall


class UsageEvent(BaseModel):
    """Token usage of the call, sent once near the end."""

    model_config = ConfigDict(frozen=True)
    kind: Literal["usage"] = "usage"
    usage: Usage


class StreamStatsEvent(BaseModel):
    """A running snapshot of speculative statistics (final when ``final`` is true).

    Not ``engine.StatsEvent``: a `Model` turns the engine's snapshots into these.

    ``mean_logprob`` is the mean log-probability of the tokens chosen so far,
    a token-confidence signal for mid-stream escalation.
    """

    model_config = ConfigDict(frozen=True)
    kind: Literal["stats"] = "stats"
    stats: SpeculativeStats
    tokens: int = 0
    mean_logprob: float | None = None
    final: bool = False


class FinishEvent(BaseModel):
    """The last event of a stream."""

    model_config = ConfigDict(frozen=True)
    kind: Literal["finish"] = "finish"
    reason: FinishReason


ModelEvent = TextDeltaEvent | ToolCallEvent | UsageEvent | StreamStatsEvent | FinishEvent


class ModelResponse(BaseModel):
    """The complete answer of one `Model.complete` call."""

    model_config = ConfigDict(frozen=True)

    message: Message
    finish_reason: FinishReason = "stop"
    usage: Usage = Usage()
    speculative: SpeculativeStats | None = None
    model: str = ""

    @property
    def text(self) -> str:
        """The assistant's text ("" when it only called tools)."""
        return self.message.content or ""

    @property
    def tool_calls(self) -> tuple[ToolCall, ...]:
        """The tool calls the model requested (possibly none)."""
        return self.message.tool_calls or ()


@runtime_checkable
class Model(Protocol):
    """A chat model. Implementations: the engine adapter, `OpenAIModel`, test doubles."""

    @property
    def name(self) -> str:
        """A short name for logs and results."""
        ...

    async def complete(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSchema] = (),
        settings: SamplingSettings | None = None,
        deadline: float | None = None,
    ) -> ModelResponse:
        """Generate one assistant message."""
        ...

    def stream(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSchema] = (),
        settings: SamplingSettings | None = None,
        deadline: float | None = None,
    ) -> AsyncIterator[ModelEvent]:
        """Generate one assistant message as typed events, ending with `FinishEvent`."""
        ...
