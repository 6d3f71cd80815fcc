"""OpenTelemetry export of agentkit's turn traces (the ``otel`` extra).

`OTelTraceHook` is a `TraceHook`: give it to ``Agent(trace_hook=...)`` and every
finished turn becomes a tree of OpenTelemetry spans, with the real start and
end time of each stage::

    invoke_agent                      the turn (agentkit.outcome, agentkit.tier, ...)
    ├── agentkit.safety_in            the input check
    ├── agentkit.route                the router's decision (agentkit.tier)
    ├── chat <fast model>             a tier call (gen_ai.* attributes, tokens)
    │   └── agentkit.tools            one round of tool calls
    │       └── execute_tool <name>   each call (gen_ai.tool.name, .call.id)
    ├── chat <fallback(a, b)>         the deep tier (agentkit.escalation.reason)
    │   ├── chat a                    each model a `FallbackModel` tried
    │   └── chat b
    ├── agentkit.safety_out           the output check
    └── agentkit.store                the session write

Names and attributes follow OpenTelemetry's GenAI semantic conventions
(``gen_ai.operation.name``, ``gen_ai.request.model``, ``gen_ai.response.model``,
``gen_ai.provider.name``/``gen_ai.system``, ``gen_ai.usage.input_tokens``/
``output_tokens``, ``error.type``); ours are ``agentkit.tier``,
``agentkit.outcome``, ``agentkit.escalation.reason``, and ``agentkit.turn_id``
(the id in logs and `TurnResult`) on the root. No user text is ever exported.

The spans are made when the turn ends (from the in-house `agentkit.Trace`), so
the root is a child of the span that is current where the turn ran (a web
request's, say): the turn joins the application's trace. Ids are the SDK's
own (128-bit trace, 64-bit span ids), so a turn nested this way keeps the
request's trace id. Needs ``opentelemetry-api`` (``pip install
'agentkit[otel]'``, which adds the SDK); without it, importing this module
raises an `ImportError` naming the extra, and ``import agentkit`` never
imports OpenTelemetry.

Example:
    >>> from opentelemetry.sdk.trace import TracerProvider
    >>> from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    >>> from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    ...     InMemorySpanExporter,
    ... )
    >>> from agentkit import Agent, Runner, ScriptedModel
    >>> exporter, provider = InMemorySpanExporter(), TracerProvider()
    >>> provider.add_span_processor(SimpleSpanProcessor(exporter))
    >>> agent = Agent(fast=ScriptedModel(["Hi!"]), trace_hook=OTelTraceHook(provider))
    >>> _ = Runner.run_sync(agent, "hello")
    >>> sorted(span.name for span in exporter.get_finished_spans())
    ['agentkit.route', 'agentkit.safety_in', 'agentkit.safety_out', 'chat scripted', 'invoke_agent']
"""

from __future__ import annotations

try:
    from opentelemetry import context as otel_context
    from opentelemetry import trace as otel_trace
    from opentelemetry.trace import SpanKind, Status, StatusCode
except ModuleNotFoundError as exc:  # pragma: no cover - exercised in a subprocess
    raise ImportError(
        "agentkit.otel needs the otel extra: pip install 'agentkit[otel]' "
        f"(opentelemetry-api and opentelemetry-sdk; {exc})"
    ) from exc

from agentkit._tracing import Span, Trace
from agentkit._version import __version__

__all__ = ["OTelTraceHook"]

_FAILED = frozenset({"failed", "error"})


def _span_name(span: Span) -> str:
    """The OpenTelemetry name of an in-house span (GenAI conventions where they apply)."""
    attributes = span.attributes
    operation = attributes.get("gen_ai.operation.name")
    if operation == "chat":
        return f"chat {attributes.get('gen_ai.request.model', '')}".rstrip()
    if operation == "execute_tool":
        return f"execute_tool {attributes.get('gen_ai.tool.name', '')}".rstrip()
    if operation == "invoke_agent" or span.parent_id is None:
        return "invoke_agent"
    return f"agentkit.{span.name}"


def _kind(span: Span) -> SpanKind:
    """CLIENT for a call to a model in another process, INTERNAL for the rest."""
    remote = span.attributes.get("gen_ai.provider.name", "agentkit") != "agentkit"
    chat = span.attributes.get("gen_ai.operation.name") == "chat"
    return SpanKind.CLIENT if chat and remote else SpanKind.INTERNAL


def _status(span: Span) -> Status | None:
    outcome = span.attributes.get("agentkit.outcome")
    tool_error = span.name == "tool" and outcome not in (None, "ok")
    if outcome in _FAILED or tool_error:
        return Status(StatusCode.ERROR, str(span.attributes.get("error.type", outcome)))
    return None


class OTelTraceHook:
    """Exports each finished turn's `Trace` as OpenTelemetry spans (a `TraceHook`).

    Args:
        tracer_provider: Where the spans go; default: the global provider
            (``opentelemetry.trace.set_tracer_provider``).
        context: The parent context of every turn's root span; default: the
            context current where the turn ran.
    """

    def __init__(
        self,
        tracer_provider: otel_trace.TracerProvider | None = None,
        *,
        context: otel_context.Context | None = None,
    ) -> None:
        self._tracer = otel_trace.get_tracer(
            "agentkit", __version__, tracer_provider=tracer_provider
        )
        self._context = context

    def __call__(self, trace: Trace) -> None:
        """Make the spans of ``trace``, parents first, with their recorded times."""
        base_ns = int(trace.started_at * 1e9)
        made: dict[str, otel_trace.Span] = {}
        for span in trace.spans:  # in start order: a parent always precedes its children
            parent = made.get(span.parent_id or "")
            context = otel_trace.set_span_in_context(parent) if parent else self._context
            attributes = dict(span.attributes)
            attributes["agentkit.stage"] = span.name
            if span.parent_id is None:
                attributes["agentkit.turn_id"] = trace.turn_id
            made[span.span_id] = self._tracer.start_span(
                _span_name(span),
                context=context,
                kind=_kind(span),
                attributes=attributes,
                start_time=base_ns + int(span.start_ms * 1e6),
            )
        for span in reversed(trace.spans):  # children end before their parents
            otel_span = made[span.span_id]
            status = _status(span)
            if status is not None:
                otel_span.set_status(status)
            end_ms = max(span.end_ms, span.start_ms)  # a span cut before it ended
            otel_span.end(end_time=base_ns + int(end_ms * 1e6))
