"""`HoldbackGuard`: incremental output checks that never release unchecked text.

Every character released has been part of a checked text, and the last
``window`` characters are held back, so a flagged phrase that straddles two
deltas is complete, and caught, before any of it is released.

PII is held back by the detector's own reach (`pii_settled`): text is released
only up to where every PII span is final, so a card number or a spaced IBAN
split across deltas is redacted whole, and the released deltas join to exactly
the redaction of the whole text. Offsets are kept in the raw text; redaction
is applied to each released slice, whose ends never fall inside a span.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from agentkit._safety_types import GuardStep, PIISpan, SafetyStage, SafetyVerdict
from agentkit.safety._pii import find_pii, pii_settled, pii_sync_point
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
        self._released = 0  # characters of the raw text whose redaction has been released
        self._scan_from = 0  # PII scans start here: a sync point at or before _released
        self._checked_len = 0
        self._blocked: SafetyVerdict | None = None
        self._last = SafetyVerdict()
        self._arrivals: deque[tuple[int, float]] = deque()  # (end offset, arrival time)
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
        redacting = self._stage in self._policy.pii_redact_stages
        spans = find_pii(self._text, self._scan_from) if redacting else ()
        end = len(self._text) if final else self._safe_end(redacting, spans)
        released = _render(self._text, spans, self._released, end)
        self._scan_from = pii_sync_point(self._text, self._scan_from, max(self._released, end))
        self._released = max(self._released, end)
        self._record_delays(end)
        return GuardStep(released=released, verdict=verdict)

    def _safe_end(self, redacting: bool, spans: tuple[PIISpan, ...]) -> int:
        """Release up to the window and settled PII, at a word boundary, outside any span."""
        limit = len(self._text) - self._policy.stream_window_chars
        if redacting:
            limit = min(limit, pii_settled(self._text))
        if limit <= self._released:
            return self._released
        cut = self._text.rfind(" ", self._released, limit)
        end = cut + 1 if cut >= self._released else self._released
        for span in spans:  # sorted, non-overlapping: the one that straddles ``end``
            if span.start < end < span.end:
                return max(self._released, span.start)
        return end

    def _record_delays(self, released_upto: int) -> None:
        now = time.perf_counter()
        while self._arrivals and self._arrivals[0][0] <= released_upto:
            _, arrived = self._arrivals.popleft()
            self._delays.append((now - arrived) * 1e3)


def _render(text: str, spans: tuple[PIISpan, ...], start: int, end: int) -> str:
    """``text[start:end]`` with the spans inside it replaced by ``[KIND]``."""
    if end <= start:
        return ""
    parts, pos = [], start
    for span in spans:
        if span.start >= start and span.end <= end:
            parts += [text[pos : span.start], f"[{span.kind.upper()}]"]
            pos = span.end
    parts.append(text[pos:end])
    return "".join(parts)
