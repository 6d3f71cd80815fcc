"""Log-probabilities on the wire: which entries a client gets, and their OpenAI shapes.

A backend reports each token's `LogprobEntry` on the `TextDeltaEvent` that
carries its text. The server may cut that text (a stop string, the FIM
suffix, a deadline), so `LogprobRelease` hands an entry out only once the
text its delta starts with has been released to the client: tokens whose
text was cut (a stop string's own tokens, a repeated suffix) are not
reported, and a stream never reports a token before its text.

Shapes: chat ``logprobs = {"content": [{token, logprob, bytes, top_logprobs}],
"refusal": null}``; completions ``logprobs = {tokens, token_logprobs,
top_logprobs, text_offset}``, where ``top_logprobs`` maps the k most likely
tokens, and always the chosen one, to their logprobs (up to k + 1 items, as
OpenAI documents) and ``text_offset`` is each token's character offset in the
choice's text. JSON has no -inf: a token a schema forbids shows -9999.0, as in vLLM.
"""

from __future__ import annotations

import codecs
from collections.abc import Sequence
from typing import Any

from agentkit._model import LogprobEntry

__all__ = ["LogprobRelease", "TextOffsets", "chat_logprobs", "completion_logprobs"]

_FLOOR = -9999.0  # what vLLM shows for -inf: JSON cannot carry infinities


def _lp(value: float) -> float:
    return max(value, _FLOOR)


class LogprobRelease:
    """Entries held until their text is released; see the module docstring."""

    def __init__(self) -> None:
        self.reported = False  # the backend reported logprobs at all
        self._received = 0  # characters of text received from the backend
        self._held: list[tuple[int, tuple[LogprobEntry, ...]]] = []
        self._ready: list[LogprobEntry] = []
        self.released: list[LogprobEntry] = []

    def received(self, text: str, entries: tuple[LogprobEntry, ...] | None) -> None:
        """A delta arrived: its entries start where its text does."""
        if entries is not None:
            self.reported = True
            if entries:
                self._held.append((self._received, entries))
        self._received += len(text)

    def release(self, released_chars: int) -> None:
        """The client has been sent ``released_chars`` characters: free the entries they start."""
        while self._held and self._held[0][0] < released_chars:
            _, entries = self._held.pop(0)
            self._ready.extend(entries)
            self.released.extend(entries)

    def take(self) -> list[LogprobEntry] | None:
        """Entries released since the last call (None when the backend reports none)."""
        if not self.reported:
            return None
        out, self._ready = self._ready, []
        return out


def _chat_entry(e: LogprobEntry, top: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "token": e.token,
        "logprob": _lp(e.logprob),
        "bytes": list(e.token_bytes),
    }
    if top:
        out["top_logprobs"] = [_chat_entry(t, False) for t in e.top_logprobs]
    return out


def chat_logprobs(entries: Sequence[LogprobEntry] | None) -> dict[str, Any] | None:
    """A chat choice's ``logprobs`` object (None: none were reported)."""
    if entries is None:
        return None
    return {"content": [_chat_entry(e, True) for e in entries], "refusal": None}


class TextOffsets:
    """Character offsets of tokens in a choice's text, from their bytes (one per choice).

    A token that completes a character begun by the one before it starts at
    that character; the offsets index the text the tokens' bytes decode to.
    """

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._chars = 0

    def next(self, entry: LogprobEntry) -> int:
        """The offset of ``entry``'s token, then move past it."""
        at = self._chars
        self._chars += len(self._decoder.decode(bytes(entry.token_bytes)))
        return at


def completion_logprobs(
    entries: Sequence[LogprobEntry] | None, offsets: TextOffsets
) -> dict[str, Any] | None:
    """A completion choice's ``logprobs`` object (None: none were reported)."""
    if entries is None:
        return None
    tops = []
    for e in entries:
        top = {t.token: _lp(t.logprob) for t in e.top_logprobs}
        top.setdefault(e.token, _lp(e.logprob))  # the chosen token is always there
        tops.append(top)
    return {
        "tokens": [e.token for e in entries],
        "token_logprobs": [_lp(e.logprob) for e in entries],
        "top_logprobs": tops,
        "text_offset": [offsets.next(e) for e in entries],
    }
