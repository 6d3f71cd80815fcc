"""Cutting streamed text at stop strings or where it starts repeating a FIM suffix.

Backends are asked to honour stop strings themselves; the server enforces them
again so that a backend that does not (or an instruction-following model that
overshoots a fill-in-the-middle gap) never leaks text past the stop. While
streaming, the guard holds back only the few characters that could still turn
into a match, so nothing past a stop ever reaches the client.

Each delta costs time in proportion to its own length (plus the stops'),
never to the text so far: the guard reads only what is new, remembering how
much of each stop and of the suffix anchor the text's tail already spells.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["TextGuard", "suffix_anchor"]

_MIN_ANCHOR = 3  # a shorter first line ("}", ")") also appears inside legitimate fills


def suffix_anchor(suffix: str | None) -> str | None:
    """The suffix's first non-blank line, stripped; None when it is too short to trust.

    Args:
        suffix: The text after a fill-in-the-middle gap.

    Returns:
        The line whose reappearance at the start of an output line means the
        model has started repeating the suffix, or None.
    """
    for line in (suffix or "").splitlines():
        stripped = line.strip()
        if stripped:
            return stripped if len(stripped) >= _MIN_ANCHOR else None
    return None


class _StopTail:
    """One stop string and the longest tail of the text that is a proper prefix of it.

    That tail is what must be held back. It is kept as a KMP automaton's state,
    moved by the new characters only (by the stop's last ``len - 1`` characters
    when the delta is longer), so a delta never walks the whole stop.
    """

    def __init__(self, stop: str) -> None:
        self.stop = stop
        self.partial = 0
        self._fail = [0] * len(stop)  # KMP: longest proper border of stop[: i + 1]
        k = 0
        for i in range(1, len(stop)):
            while k and stop[i] != stop[k]:
                k = self._fail[k - 1]
            if stop[i] == stop[k]:
                k += 1
            self._fail[i] = k

    def advance(self, text: str, read: int) -> int | None:
        """Take in ``text[read:]``; where the stop first occurs in ``text``, if it now does."""
        n = len(self.stop)
        at = text.find(self.stop, max(0, read - n + 1))  # only a match ending in the new part
        if at >= 0:
            return at
        if len(text) - read >= n - 1:  # the whole possible partial lies in the new part
            self.partial, read = 0, len(text) - (n - 1)
        m, stop, fail = self.partial, self.stop, self._fail
        for ch in text[read:]:
            while m and stop[m] != ch:
                m = fail[m - 1]
            if stop[m] == ch:
                m += 1
        self.partial = m
        return None


class _AnchorScan:
    """Finds the first line that begins, after indentation, with the suffix anchor.

    Lines are read once: a line is settled as soon as its content differs from
    the anchor, and only the current line's progress is remembered.
    """

    def __init__(self, anchor: str, drop_newline: bool) -> None:
        self.anchor = anchor
        self._drop_newline = drop_newline
        self._read = 0  # characters examined
        self._line = 0  # where the current line starts
        self._content: int | None = None  # where its content starts, once seen
        self._matched = 0  # anchor characters its content spells so far
        self._settled = False  # its content differs from the anchor

    def cut(self, text: str) -> int | None:
        """Where the output ends, if a line of ``text`` repeats the anchor (``text`` only grows)."""
        i, n, anchor = self._read, len(text), self.anchor
        while i < n:
            if self._settled:  # skip to the next line
                nl = text.find("\n", i)
                if nl < 0:
                    i = n
                    break
                i = self._line = nl + 1
                self._content, self._matched, self._settled = None, 0, False
                continue
            if self._content is None:
                while i < n and text[i] in " \t":
                    i += 1
                if i == n:
                    break
                self._content = i
            start = self._content + self._matched
            end = min(n, self._content + len(anchor))
            if text[start:end] != anchor[self._matched : end - self._content]:
                self._settled, i = True, start
                continue
            self._matched = end - self._content
            if self._matched == len(anchor):
                return self._line - 1 if self._line > 0 and self._drop_newline else self._line
            i = n
        self._read = i
        return None

    def holdback(self, text: str) -> int:
        """Characters at the end of ``text`` (as last cut) that may still become the anchor."""
        if self._settled:
            return 0
        # The newline before the line is held too: it may be dropped.
        return len(text) - self._line + (1 if self._line > 0 and self._drop_newline else 0)


class TextGuard:
    """Feeds on text deltas and releases only text that precedes every stop.

    The output stops at the earliest of: any stop string; the start of a line
    (position 0 counts) that begins, after indentation, with the suffix anchor.
    When the suffix itself starts with a newline, the newline before the
    repeating line is dropped too, so that ``prompt + output + suffix`` reads right.

    Example:
        >>> guard = TextGuard(stops=["END"])
        >>> guard.feed("abc EN"), guard.feed("D more"), guard.stopped
        ('abc ', '', True)
    """

    def __init__(self, stops: Sequence[str] = (), suffix: str | None = None) -> None:
        self._stops = [_StopTail(s) for s in dict.fromkeys(stops) if s]
        anchor = suffix_anchor(suffix)
        drop_newline = bool(suffix) and (suffix or "").lstrip(" \t").startswith("\n")
        self._anchor = None if anchor is None else _AnchorScan(anchor, drop_newline)
        self._text = ""
        self._sent = 0
        self.stopped = False

    @property
    def text(self) -> str:
        """Everything released so far."""
        return self._text[: self._sent]

    @property
    def released(self) -> int:
        """How many characters have been released (``len(text)``, without the copy)."""
        return self._sent

    def feed(self, delta: str) -> str:
        """Add generated text; returns the part that is now safe to send."""
        if self.stopped:
            return ""
        read = len(self._text)
        self._text += delta
        cut = self._find_cut(read)
        if cut is not None:
            self.stopped = True
            return self._release(max(cut, self._sent))
        return self._release(len(self._text) - self._holdback())

    def flush(self) -> str:
        """At the end of generation: release what was held back for a partial match."""
        if self.stopped:
            return ""
        return self._release(len(self._text))

    def _release(self, upto: int) -> str:
        out = self._text[self._sent : upto]
        self._sent = max(self._sent, upto)
        return out

    def _find_cut(self, read: int) -> int | None:
        """The earliest start of a stop now in the text, or the anchor's cut (new text only)."""
        cuts = [at for at in (s.advance(self._text, read) for s in self._stops) if at is not None]
        anchored = None if self._anchor is None else self._anchor.cut(self._text)
        if anchored is not None:
            cuts.append(anchored)
        return min(cuts) if cuts else None

    def _holdback(self) -> int:
        """Characters at the end that could still grow into a match."""
        hold = max((s.partial for s in self._stops), default=0)
        if self._anchor is not None:
            hold = max(hold, self._anchor.holdback(self._text))
        return hold
