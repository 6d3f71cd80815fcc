"""One trace per turn: the typed spans a `TraceHook` receives when a turn ends.

Give ``Agent(trace_hook=...)`` a `TraceHook` (any ``Callable[[Trace], None]``,
such as `agentkit.otel.OTelTraceHook`) to export every finished turn. A model
or tool that wants its own span reads the running turn's trace with
`current_trace`. Spans carry timings and small attributes, never user text.
"""

from agentkit._tracing import Span, Trace, TraceHook, current_trace

__all__ = ["Span", "Trace", "TraceHook", "current_trace"]
