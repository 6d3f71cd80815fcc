"""Incremental detokenization, token bytes and stop-string matching for streams."""

from __future__ import annotations

import re
from collections.abc import Sequence

from tokenizers import Tokenizer, decoders

__all__ = ["IncrementalDetokenizer", "StopMatcher", "token_bytes"]

_REPLACEMENT = "\ufffd"
_CODE_POINTS = 0x110000  # a transition key is state * _CODE_POINTS + ord(char)


def _byte_level_alphabet() -> dict[str, int]:
    """GPT-2's byte-level BPE alphabet, inverted: the byte each piece character stands for.

    Printable Latin-1 bytes stand for themselves; the others (controls, space,
    soft hyphen...) are shifted to U+0100 onwards, in byte order.
    """
    printable = [*range(0x21, 0x7F), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    shifted = [b for b in range(256) if b not in printable]
    out = {chr(b): b for b in printable}
    out.update({chr(256 + i): b for i, b in enumerate(shifted)})
    return out


_BYTE_OF = _byte_level_alphabet()
_BYTE_FALLBACK = re.compile(r"<0x([0-9A-Fa-f]{2})>")  # SentencePiece's byte tokens


def token_bytes(tokenizer: Tokenizer, token_id: int) -> bytes:
    """The bytes token ``token_id`` stands for (a special token: its own text).

    A byte-level BPE piece maps character by character back to its bytes, so
    a token that holds part of a UTF-8 character still has exact bytes;
    decoding it alone would give U+FFFD. SentencePiece byte tokens
    (``<0xE2>``) are their byte; other pieces are decoded alone.
    """
    piece = tokenizer.id_to_token(token_id)
    if piece is None:
        return b""
    if isinstance(tokenizer.decoder, decoders.ByteLevel) and all(c in _BYTE_OF for c in piece):
        return bytes(_BYTE_OF[c] for c in piece)
    if (m := _BYTE_FALLBACK.fullmatch(piece)) is not None:
        return bytes([int(m.group(1), 16)])
    return str(tokenizer.decode([token_id], skip_special_tokens=False)).encode()


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
    """Finds the earliest-ending stop string in a growing text, reading each character once.

    An Aho-Corasick automaton over the stops. Its state after the text read so
    far is the longest tail of the text that begins some stop, so `find` reads
    only the characters added since the last call and `holdback` is that tail's
    length. Memory is linear in the stops' total length (the set of every prefix
    it replaces was quadratic: 51 MB for one 10,000-character stop), and a call
    costs O(new characters), however many stops there are.

    Example:
        >>> m = StopMatcher(["END"])
        >>> m.find("abc EN"), m.holdback("abc EN"), m.find("abc END more")
        (None, 2, 4)
    """

    def __init__(self, stops: Sequence[str]) -> None:
        """Build the automaton, one trie level at a time (breadth first, as its links need)."""
        self._goto: dict[int, int] = {}  # state * _CODE_POINTS + ord(char) -> next state
        self._depth = [0]  # characters of a stop each state spells
        self._fail = [0]  # the longest proper suffix of that spelling that is a state
        self._out = [0]  # length of the longest stop ending at the state (0: none)
        level = [(s, 0) for s in dict.fromkeys(stops) if s]
        d = 0
        while level:
            deeper = []
            for stop, state in level:
                child = self._child(state, stop[d])
                if len(stop) == d + 1:
                    self._out[child] = len(stop)  # its own stop is the longest ending there
                else:
                    deeper.append((stop, child))
            level, d = deeper, d + 1
        self._state = 0
        self._read = 0  # characters of the text read so far
        self._match: int | None = None

    def _child(self, state: int, char: str) -> int:
        """The trie child of ``state`` by ``char``, created (with its links) if new."""
        key = state * _CODE_POINTS + ord(char)
        child = self._goto.get(key)
        if child is None:
            child = len(self._depth)
            self._goto[key] = child
            self._depth.append(self._depth[state] + 1)
            # every state shallower than the child exists and is linked: breadth-first build
            fail = self._next(self._fail[state], char) if state else 0
            self._fail.append(fail)
            self._out.append(self._out[fail])
        return child

    def _next(self, state: int, char: str) -> int:
        """The automaton's move from ``state`` on ``char``."""
        code = ord(char)
        while True:
            nxt = self._goto.get(state * _CODE_POINTS + code)
            if nxt is not None:
                return nxt
            if state == 0:
                return 0
            state = self._fail[state]

    def find(self, text: str) -> int | None:
        """Index where the earliest-ending stop string starts in ``text``, or None.

        Among stops ending at the same character the longest wins (it starts
        first). The answer does not depend on how the text was split between
        calls. ``text`` must only grow between calls (a shorter one restarts
        from its tail).
        """
        if self._match is not None or len(self._depth) == 1:  # matched, or no stops
            return self._match
        if len(text) < self._read:  # not an extension: restart on the tail
            self._state, self._read = 0, max(0, len(text) - max(self._depth))
        for i in range(self._read, len(text)):
            self._state = self._next(self._state, text[i])
            n = self._out[self._state]
            if n:
                self._read = i + 1
                self._match = i + 1 - n
                return self._match
        self._read = len(text)
        return None

    def holdback(self, text: str) -> int:
        """How many trailing characters of ``text`` could begin a stop string (0 after a match)."""
        if self.find(text) is not None:
            return 0
        return self._depth[self._state]
