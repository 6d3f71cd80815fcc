"""One trace per turn: a typed list of spans, one per stage, handed to an exporter hook.

Spans carry timings and small attributes (tier, outcome, counts), never the
user's text, so PII cannot leak into traces. OpenTelemetry is optional: an
exporter hook can turn a `Trace` into OTel spans (`Trace.to_otel_dicts`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

__all__ = ["Span", "Trace", "TraceHook"]

AttrValue = str | int | float | bool


@dataclass
class Span:
    """One stage of a turn.

    Attributes:
        name: Stage name (``safety_in``, ``route``, ``model.fast``, ``tools``, ...).
        start_ms: Start, in ms since the turn began.
        end_ms: End, in ms since the turn began.
        attributes: Small typed facts about the stage (no user text).
    """

    name: str
    start_ms: float
    end_ms: float = 0.0
    attributes: dict[str, AttrValue] = field(default_factory=dict)

    @property
    def duration_ms(self) -> float:
        """How long the stage took."""
        return self.end_ms - self.start_ms


@dataclass
class Trace:
    """The spans of one turn, in start order.

    Attributes:
        turn_id: The turn's id, shared with logs and the `TurnResult`.
        started_at: ``time.time()`` when the turn began (for exporters).
        spans: The stages, in start order.
    """

    turn_id: str
    started_at: float = field(default_factory=time.time)
    spans: list[Span] = field(default_factory=list)
    _origin: float = field(default_factory=time.perf_counter, repr=False)

    def now_ms(self) -> float:
        """Milliseconds since the turn began."""
        return (time.perf_counter() - self._origin) * 1000.0

    @contextmanager
    def span(self, name: str, **attributes: AttrValue) -> Iterator[Span]:
        """Record a span around the block; the caller may add attributes to it."""
        item = Span(name, self.now_ms(), attributes=dict(attributes))
        self.spans.append(item)
        try:
            yield item
        finally:
            item.end_ms = self.now_ms()

    def to_otel_dicts(self) -> list[dict[str, object]]:
        """The spans as OpenTelemetry-style dicts (start/end in ns since the epoch)."""
        base_ns = int(self.started_at * 1e9)
        return [
            {
                "name": s.name,
                "trace_id": self.turn_id,
                "start_time_unix_nano": base_ns + int(s.start_ms * 1e6),
                "end_time_unix_nano": base_ns + int(s.end_ms * 1e6),
                "attributes": dict(s.attributes),
            }
            for s in self.spans
        ]


TraceHook = Callable[[Trace], None]
"""Called once per finished turn with its trace (an exporter); must not raise."""
