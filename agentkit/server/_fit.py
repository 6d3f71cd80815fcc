"""Fitting a request to the model's context: the length check, run once the request is admitted.

Counting a prompt's tokens takes about a second per megabyte of text, so it
runs after admission (a full server answers 429 at once, without tokenising),
in a worker thread when the text is large, and once: the engine backends keep
the ids they counted for the generation that follows (`agentkit._prompt_ids`).

`events_after` is the seam: the handler builds everything a request needs
that is cheap (and may fail with 400 before admission), and the length check
runs as the first step of the generation, inside the admitted region. A
request that does not fit then gets its 400 from there, streaming or not,
before any header is sent.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence

import anyio.to_thread

from agentkit._messages import Message, ToolSchema
from agentkit._model import ModelEvent, SamplingSettings
from agentkit._prompt_ids import INLINE_TOKENIZE_CHARS
from agentkit.server._backend import ChatTokenCounter, TokenCounter
from agentkit.server._errors import APIError, error_from_exception
from agentkit.server._wire import tools_text

__all__ = ["Size", "chat_size", "check_max_tokens", "events_after", "fit_max_tokens", "text_size"]

Size = tuple[int, int] | None
"""``(tokens of the prompt, context window)``; None when the backend cannot count."""


def check_max_tokens(requested: int | None, limit: int) -> None:
    """400 when ``max_tokens`` is over the server's limit (cheap: checked before admission)."""
    if requested is not None and requested > limit:
        raise APIError(400, f"max_tokens must be at most {limit}", param="max_tokens")


async def text_size(counter: TokenCounter | None, text: str) -> Size:
    """The size of a text prompt; a large one is counted in a worker thread."""
    if counter is None:
        return None
    if len(text) <= INLINE_TOKENIZE_CHARS:
        used = counter.count_tokens(text)
    else:
        used = await anyio.to_thread.run_sync(counter.count_tokens, text)
    return used, counter.context_length


async def chat_size(
    chat_prompt: ChatTokenCounter | None,
    counter: TokenCounter | None,
    messages: Sequence[Message],
    tools: Sequence[ToolSchema],
    retry_after_s: int,
) -> Size:
    """The size of the prompt the chat model renders (template included) when it can say.

    Otherwise the messages' text is counted with ``counter`` (a model without
    a template of its own). A template that rejects the conversation is a 400.
    """
    if chat_prompt is not None:
        try:
            return await chat_prompt.count_chat_tokens(messages, tools)
        except Exception as exc:
            raise error_from_exception(exc, retry_after_s=retry_after_s) from exc
    text = "\n".join(m.content or "" for m in messages) + tools_text(list(tools))
    return await text_size(counter, text)


def fit_max_tokens(size: Size, requested: int | None, default: int) -> int:
    """``max_tokens`` within the context: 400 ``context_length_exceeded`` when it cannot fit.

    A requested ``max_tokens`` must fit whole (as with OpenAI); the default
    is clamped to the room left.
    """
    wanted = requested or default
    if size is None:
        return wanted
    used, context = size
    if used >= context or (requested is not None and used + wanted > context):
        msg = (
            f"This model's maximum context length is {context} tokens. However, you requested "
            f"{used + wanted} tokens ({used} in the prompt, {wanted} in the completion)."
        )
        raise APIError(400, msg, param="messages", code="context_length_exceeded")
    return min(wanted, context - used)


async def events_after(
    fit: Callable[[], Awaitable[SamplingSettings]],
    open_stream: Callable[[SamplingSettings], AsyncIterator[ModelEvent]],
) -> AsyncGenerator[ModelEvent]:
    """The backend's events, opened with the settings ``fit`` returns once admitted.

    Closing this closes the backend's stream (the engine frees its slot).
    """
    events = open_stream(await fit())
    try:
        async for event in events:
            yield event
    finally:
        aclose = getattr(events, "aclose", None)
        if aclose is not None:
            await aclose()
