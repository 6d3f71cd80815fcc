"""`PromptIds`: a prompt tokenised once between a length check and its generation.

The HTTP server counts a prompt's tokens before generating (400 when it cannot
fit), and the engine then needs the very same ids. `PromptIds` keeps the ids of
the last few prompts it counted that fit the context, so that the generation
that follows takes them instead of tokenising the prompt a second time.

Large prompts are tokenised in a worker thread: a megabyte of text takes over
a second of CPU, which on the event loop would stall every other request.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

import anyio.to_thread

__all__ = ["INLINE_TOKENIZE_CHARS", "PromptIds"]

INLINE_TOKENIZE_CHARS = 4096
"""Longer texts are tokenised in a worker thread (~2 ms of tokenising: a thread hop costs more)."""

_KEEP = 8  # prompts counted and not yet generated from: a few requests between check and start


class PromptIds:
    """Token ids of recently counted prompts, handed to the generation that follows.

    Only prompts shorter than ``fits`` tokens are kept (a longer one is refused
    and never generated from), and at most ``keep`` of them: at most
    ``keep * fits`` ids, whatever clients send. Safe to use from worker threads.

    Args:
        encode: The tokenizer: text to token ids.
        fits: The context window in tokens.
        keep: How many counted prompts to remember.

    Example:
        >>> ids = PromptIds(lambda text: [ord(c) for c in text], fits=100)
        >>> ids.count_sync("hi")
        2
        >>> import anyio
        >>> anyio.run(ids.take, "hi")
        [104, 105]
    """

    def __init__(self, encode: Callable[[str], list[int]], fits: int, keep: int = _KEEP) -> None:
        self._encode = encode
        self._fits = fits
        self._keep = keep
        self._kept: OrderedDict[str, list[int]] = OrderedDict()
        self._lock = threading.Lock()

    def count_sync(self, prompt: str) -> int:
        """Tokens of ``prompt``, tokenised here (for callers already off the event loop)."""
        ids = self._encode(prompt)
        self._remember(prompt, ids)
        return len(ids)

    async def count(self, prompt: str) -> int:
        """Tokens of ``prompt``; a large one is tokenised in a worker thread."""
        ids = await self._tokenize(prompt)
        self._remember(prompt, ids)
        return len(ids)

    async def take(self, prompt: str) -> list[int]:
        """The ids of ``prompt``: those kept when it was counted, else freshly tokenised."""
        with self._lock:
            kept = self._kept.pop(prompt, None)
        return kept if kept is not None else await self._tokenize(prompt)

    async def _tokenize(self, prompt: str) -> list[int]:
        if len(prompt) <= INLINE_TOKENIZE_CHARS:
            return self._encode(prompt)
        return await anyio.to_thread.run_sync(self._encode, prompt)

    def _remember(self, prompt: str, ids: list[int]) -> None:
        if len(ids) >= self._fits:
            return
        with self._lock:
            self._kept[prompt] = ids
            self._kept.move_to_end(prompt)
            while len(self._kept) > self._keep:
                self._kept.popitem(last=False)
