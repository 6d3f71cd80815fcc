"""Continuing a partial answer on another model without repeating it.

The agent loop sends the text the user has already seen as a trailing
assistant message and asks the next model to continue from where it stops;
models do not always obey, so `PrefixSkipper` drops a restatement.
"""

from __future__ import annotations

__all__ = ["PrefixSkipper"]


class PrefixSkipper:
    """Drops a continuation's leading repeat of text the user has already seen.

    A model told to continue may still restate the partial answer; while its
    output could be such a repeat, it is held back, then dropped or released.
    """

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.pending = ""
        self.done = not prefix

    def feed(self, delta: str) -> str:
        """Text to pass on (possibly empty while undecided)."""
        if self.done:
            return delta
        self.pending += delta
        if len(self.pending) < len(self.prefix) and self.prefix.startswith(self.pending):
            return ""
        return self.flush()

    def flush(self) -> str:
        """Decide now: release what was held, without the repeated prefix."""
        if self.done:
            return ""
        self.done = True
        if self.pending.startswith(self.prefix):
            return self.pending[len(self.prefix) :]
        return self.pending
