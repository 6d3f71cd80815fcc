"""`HoldbackGuard`: incremental output checks that never release unchecked text.

Every character released has been part of a checked text, and the last
``window`` characters are held back, so a flagged phrase or a card number that
straddles two deltas is complete, and caught, before any of it is released.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from agentkit._safety_types import GuardStep, SafetyStage, SafetyVerdict
from agentkit.safety._pii import find_pii, redact
from agentkit.safety._policy import SafetyPolicy

__all__ = ["HoldbackGuard", "HoldbackStats"]

_TAIL_CHARS = 2048  # re-check only the recent tail: a phrase longer than this is not "a phrase"
_BLOCKING = ("escalate", "refuse")


@dataclass(frozen=True)
class HoldbackStats:
    """The hold-back's cost for one stream.

    Attributes:
        checks: Checks run.
        check_ms: Total time spent checking.
        max_delay_ms: Longest time a character waited between arrival and release.
        mean_delay_ms: Mean of that wait over released deltas.
        window_chars: Characters held back.
    """

    checks: int
    check_ms: float
    max_delay_ms: float
    mean_delay_ms: float
    window_chars: int


class HoldbackGuard:
    """A `StreamGuard` over a synchronous check function."""

    def __init__(
        self,
        check: Callable[..., SafetyVerdict],
        policy: SafetyPolicy,
        stage: SafetyStage = "output",
    ) -> None:
        """Guard one stream.

        Args:
            check: ``check(text, stage=...) -> SafetyVerdict`` (synchronous).
            policy: Supplies the window, re-check interval and PII stages.
            stage: The stage checks run at.
        """
        self._check, self._policy, self._stage = check, policy, stage
        self._text = ""
        self._released = 0  # characters of the (redacted) text already released
        self._checked_len = 0
        self._blocked: SafetyVerdict | None = None
        self._last = SafetyVerdict()
        self._arrivals: list[tuple[int, float]] = []  # (end offset, arrival time)
        self._delays: list[float] = []
        self._checks, self._check_ms = 0, 0.0

    @property
    def stats(self) -> HoldbackStats:
        """What holding back has cost so far."""
        d = self._delays
        return HoldbackStats(
            self._checks,
            self._check_ms,
            max(d, default=0.0),
            sum(d) / len(d) if d else 0.0,
            self._policy.stream_window_chars,
        )

    def feed(self, delta: str) -> GuardStep:
        """Add generated text; release what is checked and outside the window."""
        if self._blocked is not None:
            return GuardStep(released="", verdict=self._blocked)
        self._text += delta
        self._arrivals.append((len(self._text), time.perf_counter()))
        if len(self._text) - self._checked_len < self._policy.stream_check_chars:
            return GuardStep(released="", verdict=self._last)
        return self._step(final=False)

    def finish(self) -> GuardStep:
        """Check the whole text; release the rest unless it is blocked."""
        if self._blocked is not None:
            return GuardStep(released="", verdict=self._blocked)
        return self._step(final=True)

    def _step(self, final: bool) -> GuardStep:
        start = time.perf_counter()
        verdict = self._check(self._text if final else self._text[-_TAIL_CHARS:], stage=self._stage)
        self._checks += 1
        self._check_ms += (time.perf_counter() - start) * 1e3
        self._checked_len = len(self._text)
        self._last = verdict
        if verdict.action in _BLOCKING:
            self._blocked = verdict
            return GuardStep(released="", verdict=verdict)
        shown = self._text
        if self._stage in self._policy.pii_redact_stages:
            shown = redact(self._text, find_pii(self._text))
        end = len(shown) if final else self._safe_end(shown)
        released = shown[self._released : end] if end > self._released else ""
        self._released = max(self._released, end)
        self._record_delays(len(self._text) if final else end)
        return GuardStep(released=released, verdict=verdict)

    def _safe_end(self, shown: str) -> int:
        """Release up to the window, snapped back to a word boundary."""
        end = len(shown) - self._policy.stream_window_chars
        if end <= self._released:
            return self._released
        cut = shown.rfind(" ", self._released, end)
        return cut + 1 if cut >= self._released else self._released

    def _record_delays(self, released_upto: int) -> None:
        now = time.perf_counter()
        while self._arrivals and self._arrivals[0][0] <= released_upto:
            _, arrived = self._arrivals.pop(0)
            self._delays.append((now - arrived) * 1e3)
