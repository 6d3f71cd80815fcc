"""Incremental detokenization and stop-string matching for streams."""

from __future__ import annotations

from collections.abc import Sequence

from tokenizers import Tokenizer

__all__ = ["IncrementalDetokenizer", "StopMatcher"]

_REPLACEMENT = "\ufffd"


class IncrementalDetokenizer:
    """Turns a growing list of token ids into text deltas, never splitting a character.

    Decodes a short window of recent tokens (the byte-level decoder needs some
    left context) and holds the output back while it ends in U+FFFD, i.e. while
    the last token's bytes do not yet complete a UTF-8 character.
    """

    def __init__(self, tokenizer: Tokenizer, skip_special_tokens: bool = True) -> None:
        """Start with no tokens."""
        self._tok = tokenizer
        self._skip = skip_special_tokens
        self.ids: list[int] = []
        self._prefix = 0  # window start
        self._read = 0  # tokens before this are already emitted

    def push(self, token_id: int) -> str:
        """Add one token; return the newly complete text (possibly empty)."""
        self.ids.append(token_id)
        prefix_text = self._tok.decode(
            self.ids[self._prefix : self._read], skip_special_tokens=self._skip
        )
        full = self._tok.decode(self.ids[self._prefix :], skip_special_tokens=self._skip)
        if full.endswith(_REPLACEMENT) or len(full) <= len(prefix_text):
            return ""
        self._prefix, self._read = self._read, len(self.ids)
        return full[len(prefix_text) :]

    def flush(self) -> str:
        """Text still held back at the end of the stream (incomplete bytes become U+FFFD)."""
        prefix_text = self._tok.decode(
            self.ids[self._prefix : self._read], skip_special_tokens=self._skip
        )
        full = self._tok.decode(self.ids[self._prefix :], skip_special_tokens=self._skip)
        self._prefix = self._read = len(self.ids)
        return full[len(prefix_text) :]


class StopMatcher:
    """Finds the earliest stop string in a growing text, looking only at its tail.

    Each check costs O(new characters × distinct stop lengths) set lookups, so
    10,000 stop strings cost about as much as ten.
    """

    def __init__(self, stops: Sequence[str]) -> None:
        """Index ``stops`` by length, and every proper prefix for hold-back."""
        self._stops = set(stops)
        self._lengths = sorted({len(s) for s in self._stops})
        self._prefixes = {s[:i] for s in self._stops for i in range(1, len(s))}
        self._max = max(self._lengths, default=0)
        self._checked = 0  # text[:_checked] has no stop string ending inside it

    def find(self, text: str) -> int | None:
        """Index where the earliest stop string starts in ``text``, or None.

        ``text`` must only grow between calls.
        """
        if not self._stops:
            return None
        for end in range(self._checked + 1, len(text) + 1):
            for n in self._lengths:
                if n > end:
                    break
                if text[end - n : end] in self._stops:
                    return end - n
        self._checked = len(text)
        return None

    def holdback(self, text: str) -> int:
        """How many trailing characters of ``text`` could begin a stop string."""
        for n in range(min(self._max - 1, len(text)), 0, -1):
            if text[-n:] in self._prefixes:
                return n
        return 0
