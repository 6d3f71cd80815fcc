"""The serving-backend seam: what the HTTP server needs from a model.

- Chat completions are served by any agentkit `Model` (``ChatBackend``).
- Text completions (``/v1/completions``) by a `TextBackend`. `ModelTextBackend`
  adapts any chat `Model`: the prompt goes in as a user message, and a
  ``suffix`` (fill-in-the-middle) is rendered through `FIM_INSTRUCTION`.
- A backend that knows its tokenizer may also implement `TokenCounter`, so the
  server rejects prompts over the context with 400 before generating. A chat
  `Model` that renders its own prompt (a chat template, tools in the prompt)
  implements `ChatTokenCounter`, so that the check counts that prompt.
- A backend with a fixed number of request slots may implement `SlotReporter`:
  ``/health`` shows how many are in use.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from agentkit._messages import Message, ToolSchema
from agentkit._model import Model, ModelEvent, SamplingSettings

__all__ = [
    "FIM_INSTRUCTION",
    "FIM_SYSTEM",
    "ChatBackend",
    "ChatTokenCounter",
    "ModelTextBackend",
    "SlotReporter",
    "SlotUsage",
    "TextBackend",
    "TextRequest",
    "TokenCounter",
    "render_text_prompt",
]

ChatBackend = Model
"""Chat completions are served by any agentkit `Model` (tools included)."""

FIM_SYSTEM = (
    "You fill a gap in a document. Reply with only the text that belongs in the gap: "
    "no explanation, no code fences, and do not repeat the text after the gap."
)
"""System message of the fill-in-the-middle instruction template."""

FIM_INSTRUCTION = (
    "Text before the gap:\n<before>\n{prompt}\n</before>\n"
    "Text after the gap:\n<after>\n{suffix}\n</after>\n"
    "Write the text that fills the gap."
)
"""User message of the fill-in-the-middle template (``{prompt}`` and ``{suffix}``)."""


@dataclass(frozen=True)
class TextRequest:
    """One raw text completion.

    Attributes:
        prompt: The text to continue (the part before the gap, with a suffix).
        suffix: The text after the gap, for fill-in-the-middle; None otherwise.
        settings: Sampling settings (stop strings, max tokens...).
        deadline: Absolute ``time.monotonic()`` deadline, or None.
    """

    prompt: str
    suffix: str | None
    settings: SamplingSettings
    deadline: float | None = None


@runtime_checkable
class TextBackend(Protocol):
    """Raw text completion, streamed as the same typed events a `Model` yields.

    ``native_fim`` is True when the backend uses the model's own fill-in-the-middle
    tokens; otherwise the server cuts the output where it starts repeating the suffix.
    """

    @property
    def name(self) -> str:
        """A short name (the served model id by default)."""
        ...

    @property
    def native_fim(self) -> bool:
        """Whether ``suffix`` is handled with the model's own FIM tokens."""
        ...

    def stream_text(self, request: TextRequest) -> AsyncIterator[ModelEvent]:
        """Generate a continuation, ending with a `FinishEvent`."""
        ...


@runtime_checkable
class TokenCounter(Protocol):
    """Optional: lets the server check prompts against the context window."""

    @property
    def context_length(self) -> int:
        """The model's context window in tokens."""
        ...

    def count_tokens(self, text: str) -> int:
        """The number of tokens of ``text`` (chat templates included by the caller)."""
        ...


@runtime_checkable
class ChatTokenCounter(Protocol):
    """Optional, on a chat `Model`: the size of the prompt it would generate from.

    Counting the messages' text misses what the model adds around it (a chat
    template, a default system prompt, tool schemas), so a prompt can pass the
    server's check and still not fit.
    """

    async def count_chat_tokens(
        self, messages: Sequence[Message], tools: Sequence[ToolSchema]
    ) -> tuple[int, int]:
        """``(tokens of the rendered prompt, the context window in tokens)``."""
        ...


@dataclass(frozen=True)
class SlotUsage:
    """Request slots of a backend (KV-cache slots for the engine).

    Attributes:
        in_use: Slots holding a request now.
        total: All slots.
    """

    in_use: int
    total: int


@runtime_checkable
class SlotReporter(Protocol):
    """Optional: a backend that serves a fixed number of requests at once reports its slots."""

    def slot_usage(self) -> SlotUsage:
        """Slots in use now, out of how many."""
        ...


def render_text_prompt(prompt: str, suffix: str | None) -> list[Message]:
    """The chat messages that stand for a raw completion on a chat-only model.

    Args:
        prompt: The text before the gap (or the whole prompt without a suffix).
        suffix: The text after the gap, or None.

    Returns:
        ``[user(prompt)]`` without a suffix; the `FIM_SYSTEM` + `FIM_INSTRUCTION`
        pair with one.
    """
    if suffix is None:
        return [Message.user(prompt)]
    return [
        Message.system(FIM_SYSTEM),
        Message.user(FIM_INSTRUCTION.format(prompt=prompt, suffix=suffix)),
    ]


class ModelTextBackend:
    """A `TextBackend` over any chat `Model` (the default for ``/v1/completions``).

    Example:
        >>> from agentkit import ScriptedModel
        >>> ModelTextBackend(ScriptedModel(["x"])).name
        'scripted'
    """

    def __init__(self, model: Model) -> None:
        self._model = model

    @property
    def name(self) -> str:
        """The wrapped model's name."""
        return self._model.name

    @property
    def native_fim(self) -> bool:
        """Always False: the suffix travels through the instruction template."""
        return False

    async def stream_text(self, request: TextRequest) -> AsyncIterator[ModelEvent]:
        """Stream the chat model's answer to the rendered prompt."""
        messages = render_text_prompt(request.prompt, request.suffix)
        events = self._model.stream(messages, settings=request.settings, deadline=request.deadline)
        try:
            async for event in events:
                yield event
        finally:
            aclose = getattr(events, "aclose", None)
            if aclose is not None:
                await aclose()
