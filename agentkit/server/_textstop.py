"""Cutting streamed text at stop strings or where it starts repeating a FIM suffix.

Backends are asked to honour stop strings themselves; the server enforces them
again so that a backend that does not (or an instruction-following model that
overshoots a fill-in-the-middle gap) never leaks text past the stop. While
streaming, the guard holds back only the few characters that could still turn
into a match, so nothing past a stop ever reaches the client.
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
        self._stops = [s for s in stops if s]
        self._anchor = suffix_anchor(suffix)
        self._drop_newline = bool(suffix) and (suffix or "").lstrip(" \t").startswith("\n")
        self._text = ""
        self._sent = 0
        self.stopped = False

    @property
    def text(self) -> str:
        """Everything released so far."""
        return self._text[: self._sent]

    def feed(self, delta: str) -> str:
        """Add generated text; returns the part that is now safe to send."""
        if self.stopped:
            return ""
        self._text += delta
        cut = self._find_cut()
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

    def _find_cut(self) -> int | None:
        cuts = [i for i in (self._text.find(s) for s in self._stops) if i >= 0]
        anchored = self._anchor_cut()
        if anchored is not None:
            cuts.append(anchored)
        return min(cuts) if cuts else None

    def _line_starts(self) -> list[int]:
        starts = [0]
        starts.extend(i + 1 for i, ch in enumerate(self._text) if ch == "\n")
        return starts

    def _anchor_cut(self) -> int | None:
        if self._anchor is None:
            return None
        for start in self._line_starts():
            end = self._text.find("\n", start)
            line = self._text[start:] if end < 0 else self._text[start:end]
            if line.lstrip(" \t").startswith(self._anchor):
                return start - 1 if start > 0 and self._drop_newline else start
        return None

    def _holdback(self) -> int:
        """Characters at the end that could still grow into a match."""
        hold = 0
        for stop in self._stops:
            for k in range(min(len(stop) - 1, len(self._text)), 0, -1):
                if stop.startswith(self._text[-k:]):
                    hold = max(hold, k)
                    break
        if self._anchor is not None:
            start = self._text.rfind("\n") + 1
            partial = self._text[start:].lstrip(" \t")
            if self._anchor.startswith(partial):
                # The newline before the line is held too: it may be dropped.
                keep = len(self._text) - start + (1 if start > 0 and self._drop_newline else 0)
                hold = max(hold, keep)
        return hold
