"""One trace per turn: a tree of typed spans, handed to an exporter hook when the turn ends.

Ids follow W3C Trace Context, as OpenTelemetry does: a 128-bit trace id (32 hex
digits, also the turn's id in logs and the `TurnResult`), a 64-bit id per span
(16 hex digits) and each span's parent id. The root span is ``turn``; a stage
opened with `Trace.span` is a child of the innermost span still open, and
`Trace.start` takes an explicit parent, for spans that run concurrently (tool
calls) or across a generator's ``yield`` (fallback hops).

Spans carry timings and small attributes (tier, outcome, models, token counts,
named after OpenTelemetry's ``gen_ai.*`` conventions where one fits), never
the user's text, so PII cannot leak into traces. OpenTelemetry is optional:
`agentkit.otel.OTelTraceHook` (the ``otel`` extra) exports a `Trace` as OTel
spans; `Trace.to_otel_dicts` gives plain dicts for other exporters.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

__all__ = [
    "AttrValue",
    "Span",
    "Trace",
    "TraceHook",
    "current_trace",
    "new_span_id",
    "new_trace_id",
]

AttrValue = str | int | float | bool

_CURRENT: ContextVar[Trace | None] = ContextVar("agentkit_trace", default=None)


def _random_hex(bits: int) -> str:
    value = 0
    while value == 0:  # all-zero ids are invalid in W3C Trace Context
        value = secrets.randbits(bits)
    return f"{value:0{bits // 4}x}"


def new_trace_id() -> str:
    """A random, non-zero 128-bit trace id as 32 lowercase hex digits."""
    return _random_hex(128)


def new_span_id() -> str:
    """A random, non-zero 64-bit span id as 16 lowercase hex digits."""
    return _random_hex(64)


@dataclass
class Span:
    """One stage of a turn.

    Attributes:
        name: Stage name (``turn``, ``safety_in``, ``route``, ``model.fast``, ...).
        start_ms: Start, in ms since the turn began.
        end_ms: End, in ms since the turn began.
        attributes: Small typed facts about the stage (no user text).
        span_id: This span's 64-bit id (16 hex digits).
        parent_id: The enclosing span's id; None for the root (``turn``).
    """

    name: str
    start_ms: float
    end_ms: float = 0.0
    attributes: dict[str, AttrValue] = field(default_factory=dict)
    span_id: str = field(default_factory=new_span_id)
    parent_id: str | None = None

    @property
    def duration_ms(self) -> float:
        """How long the stage took."""
        return self.end_ms - self.start_ms


@dataclass
class Trace:
    """The spans of one turn, in start order; the first is the root, ``turn``.

    Attributes:
        turn_id: The turn's 128-bit trace id (32 hex digits), shared with logs
            and the `TurnResult`.
        started_at: ``time.time()`` when the turn began (for exporters).
        spans: The spans, in start order.
    """

    turn_id: str = field(default_factory=new_trace_id)
    started_at: float = field(default_factory=time.time)
    spans: list[Span] = field(default_factory=list)
    _origin: float = field(default_factory=time.perf_counter, repr=False)
    _open: list[Span] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        root = Span("turn", 0.0)
        self.spans.insert(0, root)
        self._open.append(root)

    @property
    def trace_id(self) -> str:
        """The trace id (the turn id), 32 hex digits."""
        return self.turn_id

    @property
    def root(self) -> Span:
        """The ``turn`` span, parent of every stage."""
        return self.spans[0]

    def now_ms(self) -> float:
        """Milliseconds since the turn began."""
        return (time.perf_counter() - self._origin) * 1000.0

    def start(
        self,
        name: str,
        facts: Mapping[str, AttrValue] | None = None,
        *,
        parent: Span | None = None,
        **attributes: AttrValue,
    ) -> Span:
        """Open a span without making it the parent of later ones; `finish` closes it.

        Args:
            name: The span's name.
            facts: Initial attributes (names with dots, such as ``gen_ai.*``).
            parent: Its parent; default: the innermost span opened with `span` and
                still open (the root, ``turn``, at least).
            **attributes: More initial attributes.
        """
        parent = parent or self._open[-1]
        values = {**(facts or {}), **attributes}
        item = Span(name, self.now_ms(), attributes=values, parent_id=parent.span_id)
        self.spans.append(item)
        return item

    def finish(self, span: Span) -> None:
        """Close a span opened with `start`."""
        span.end_ms = self.now_ms()

    @contextmanager
    def span(
        self,
        name: str,
        facts: Mapping[str, AttrValue] | None = None,
        *,
        parent: Span | None = None,
        **attributes: AttrValue,
    ) -> Iterator[Span]:
        """Record a span around the block.

        Without ``parent`` it is a child of the innermost open span and the parent
        of the spans opened inside the block. With ``parent`` (for blocks that run
        concurrently, such as tool calls) it is that span's child only.
        """
        item = self.start(name, facts, parent=parent, **attributes)
        if parent is None:
            self._open.append(item)
        try:
            yield item
        finally:
            self.finish(item)
            if parent is None:
                self._open.remove(item)

    @contextmanager
    def activate(self) -> Iterator[Trace]:
        """Make this the `current_trace` of the block (models add their spans to it)."""
        token = _CURRENT.set(self)
        try:
            yield self
        finally:
            _CURRENT.reset(token)

    def to_otel_dicts(self) -> list[dict[str, object]]:
        """The spans as OpenTelemetry-style dicts (start/end in ns since the epoch)."""
        base_ns = int(self.started_at * 1e9)
        return [
            {
                "name": s.name,
                "trace_id": self.turn_id,
                "span_id": s.span_id,
                "parent_span_id": s.parent_id,
                "start_time_unix_nano": base_ns + int(s.start_ms * 1e6),
                "end_time_unix_nano": base_ns + int(s.end_ms * 1e6),
                "attributes": dict(s.attributes),
            }
            for s in self.spans
        ]


def current_trace() -> Trace | None:
    """The trace of the turn running in this context, if any (for models that add spans)."""
    return _CURRENT.get()


TraceHook = Callable[[Trace], None]
"""Called once per finished turn with its trace (an exporter); must not raise."""
