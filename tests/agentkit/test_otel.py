"""OpenTelemetry export: the span tree of a turn, its attributes, ids and times.

Spans go to the SDK's in-memory exporter. Also: ``import agentkit`` never imports
OpenTelemetry, a turn runs without it, and ``agentkit.otel`` without it is an
ImportError naming the extra.
"""

from __future__ import annotations

import doctest
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk", reason="the otel extra is not installed")

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from agentkit import Agent, ModelResponse, Runner, ScriptedModel, SpeculativeStats, ToolCall
from agentkit._messages import FunctionCall, Message, Usage
from agentkit._tracing import Trace
from agentkit.errors import ModelHTTPError
from agentkit.otel import OTelTraceHook
from router import Decision, RouteContext, StreamSignals
from tools import calculator


class _EscalateOnStats:
    """Routes to fast; escalates to deep at the first running statistics snapshot."""

    def route(self, context: RouteContext) -> Decision:
        return Decision("fast", {}, ("test: fast",))

    def should_escalate(self, context: RouteContext, stats: StreamSignals) -> Decision | None:
        return Decision("deep", {}, ("acceptance collapsed",))


@pytest.fixture
def exporter() -> Iterator[tuple[InMemorySpanExporter, TracerProvider]]:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    yield memory, provider
    provider.shutdown()


def _turn_with_tool_and_escalation(provider: TracerProvider) -> tuple[Any, list[Trace]]:
    call = ToolCall(
        id="call_7", function=FunctionCall(name="calculator", arguments='{"expression": "6*7"}')
    )
    stats = SpeculativeStats(mode="ngram", drafted=4, accepted=0, target_steps=2)
    fast = ScriptedModel(
        [
            ModelResponse(
                message=Message.assistant(None, [call]),
                finish_reason="tool_calls",
                usage=Usage(prompt_tokens=30, completion_tokens=9),
            ),
            ModelResponse(
                message=Message.assistant("It is"),
                speculative=stats,
                usage=Usage(prompt_tokens=50, completion_tokens=2),
            ),
        ],
        name="fast-1b",
    )
    down = ScriptedModel([ModelHTTPError(503, "down")], name="deep-a")
    deep_b = ScriptedModel(
        [
            ModelResponse(
                message=Message.assistant(" 42."),
                usage=Usage(prompt_tokens=70, completion_tokens=3),
                model="deep-b",
            )
        ],
        name="deep-b",
    )
    traces: list[Trace] = []
    hook = OTelTraceHook(provider)

    def both(trace: Trace) -> None:
        traces.append(trace)
        hook(trace)

    agent = Agent(
        fast=fast,
        deep=[down, deep_b],
        tools=[calculator],
        router=_EscalateOnStats(),
        trace_hook=both,
    )
    return Runner.run_sync(agent, "what is 6*7?", session_id="s1"), traces


def _by_name(spans: tuple[ReadableSpan, ...]) -> dict[str, ReadableSpan]:
    out = {s.name: s for s in spans}
    assert len(out) == len(spans), [s.name for s in spans]  # names are unique in this turn
    return out


def test_span_tree_of_a_turn_with_a_tool_call_and_an_escalation(exporter: Any) -> None:
    memory, provider = exporter
    result, _ = _turn_with_tool_and_escalation(provider)
    assert (result.outcome, result.tier) == ("ok", "deep")
    spans = _by_name(memory.get_finished_spans())
    parent_of = {
        name: next(
            (
                p
                for p, s in spans.items()
                if span.parent and s.context.span_id == span.parent.span_id
            ),
            None,
        )
        for name, span in spans.items()
    }
    assert parent_of == {
        "invoke_agent": None,
        "agentkit.safety_in": "invoke_agent",
        "agentkit.history": "invoke_agent",
        "agentkit.route": "invoke_agent",
        "chat fast-1b": "invoke_agent",
        "agentkit.tools": "chat fast-1b",
        "execute_tool calculator": "agentkit.tools",
        "chat fallback(deep-a, deep-b)": "invoke_agent",
        "chat deep-a": "chat fallback(deep-a, deep-b)",
        "chat deep-b": "chat fallback(deep-a, deep-b)",
        "agentkit.safety_out": "invoke_agent",
        "agentkit.store": "invoke_agent",
    }
    # One trace; W3C widths: 128-bit trace id, 64-bit span ids, all distinct.
    trace_ids = {s.context.trace_id for s in spans.values()}
    assert len(trace_ids) == 1 and 0 < trace_ids.pop() < 2**128
    assert all(0 < s.context.span_id < 2**64 for s in spans.values())
    assert len({s.context.span_id for s in spans.values()}) == len(spans)
    assert spans["invoke_agent"].attributes["agentkit.turn_id"] == result.turn_id


def test_genai_and_agentkit_attributes(exporter: Any) -> None:
    memory, provider = exporter
    result, _ = _turn_with_tool_and_escalation(provider)
    spans = _by_name(memory.get_finished_spans())
    root = spans["invoke_agent"].attributes
    assert root["gen_ai.operation.name"] == "invoke_agent"
    assert (root["agentkit.outcome"], root["agentkit.tier"]) == ("ok", "deep")
    assert root["agentkit.escalation.reason"] == "escalated: acceptance collapsed"
    fast = spans["chat fast-1b"].attributes
    assert fast["gen_ai.operation.name"] == "chat"
    assert fast["gen_ai.request.model"] == "fast-1b"
    assert fast["gen_ai.provider.name"] == fast["gen_ai.system"] == "agentkit"
    assert (fast["agentkit.tier"], fast["agentkit.outcome"]) == ("fast", "escalate")
    # Both fast rounds count on the tier's span: the tool call's reported usage, and
    # the escalated round's one generated token (abandoned before it reported usage).
    assert (fast["gen_ai.usage.input_tokens"], fast["gen_ai.usage.output_tokens"]) == (30, 10)
    assert fast["gen_ai.usage.output_tokens"] == result.usage["fast"].usage.completion_tokens
    deep = spans["chat fallback(deep-a, deep-b)"].attributes
    assert (deep["agentkit.tier"], deep["agentkit.outcome"]) == ("deep", "done")
    assert deep["gen_ai.response.model"] == "deep-b"
    assert deep["agentkit.escalation.reason"] == "escalated: acceptance collapsed"
    assert (deep["gen_ai.usage.input_tokens"], deep["gen_ai.usage.output_tokens"]) == (70, 3)
    hop_a, hop_b = spans["chat deep-a"], spans["chat deep-b"]
    assert hop_a.attributes["agentkit.outcome"] == "failed"
    assert hop_a.attributes["error.type"] == "ModelHTTPError"
    assert hop_a.status.status_code is StatusCode.ERROR
    assert hop_b.attributes["agentkit.outcome"] == "done"
    assert hop_b.attributes["gen_ai.response.model"] == "deep-b"
    assert hop_b.attributes["agentkit.fallback.index"] == 1
    tool = spans["execute_tool calculator"].attributes
    assert tool["gen_ai.operation.name"] == "execute_tool"
    assert (tool["gen_ai.tool.name"], tool["gen_ai.tool.call.id"]) == ("calculator", "call_7")
    assert tool["agentkit.outcome"] == "ok"
    assert spans["agentkit.route"].attributes["agentkit.tier"] == "fast"
    for stage in ("agentkit.safety_in", "agentkit.safety_out"):
        assert spans[stage].attributes["agentkit.safety.action"] == "allow"
    assert all(s.kind is SpanKind.INTERNAL for s in spans.values())  # in-process doubles
    # No user text leaves in a span: neither the question nor the tool's arguments.
    dumped = json.dumps([dict(s.attributes) for s in spans.values()])
    assert "6*7" not in dumped and "what is" not in dumped


def test_spans_carry_the_real_start_and_end_times(exporter: Any) -> None:
    memory, provider = exporter
    before = time.time_ns()
    _, (trace,) = _turn_with_tool_and_escalation(provider)
    after = time.time_ns()
    spans = memory.get_finished_spans()
    by_id = {s.context.span_id: s for s in spans}
    for span in spans:
        assert before - 1_000_000 <= span.start_time <= span.end_time <= after + 1_000_000
        if span.parent is not None:  # children lie within their parent
            parent = by_id[span.parent.span_id]
            assert parent.start_time <= span.start_time and span.end_time <= parent.end_time
    # The same durations as the in-house trace (to the microsecond's rounding).
    in_house = {s.name: s.duration_ms for s in trace.spans}
    root = next(s for s in spans if s.parent is None)
    assert abs((root.end_time - root.start_time) / 1e6 - in_house["turn"]) < 0.01


def test_a_turn_joins_the_applications_current_trace(exporter: Any) -> None:
    memory, provider = exporter
    tracer = provider.get_tracer("app")
    agent = Agent(fast=ScriptedModel(["Hi."]), trace_hook=OTelTraceHook(provider))
    with tracer.start_as_current_span("POST /chat") as request:
        Runner.run_sync(agent, "hi")
    root = next(s for s in memory.get_finished_spans() if s.name == "invoke_agent")
    assert root.parent is not None and root.parent.span_id == request.get_span_context().span_id
    assert root.context.trace_id == request.get_span_context().trace_id


def test_a_remote_model_is_a_client_span_and_a_failed_tier_an_error(exporter: Any) -> None:
    memory, provider = exporter
    from agentkit import OpenAIModel
    from agentkit._openai_settings import RetryPolicy

    # Nothing listens on port 9 of loopback: the deep call fails at once.
    deep = OpenAIModel("gpt-x", base_url="http://127.0.0.1:9/v1", retry=RetryPolicy(max_attempts=1))
    agent = Agent(
        fast=ScriptedModel(["Fast."]),
        deep=deep,
        router=_AlwaysDeep(),
        trace_hook=OTelTraceHook(provider),
    )
    result = Runner.run_sync(agent, "hi")
    assert result.outcome == "degraded"
    span = next(s for s in memory.get_finished_spans() if s.name == "chat gpt-x")
    assert span.kind is SpanKind.CLIENT
    assert span.attributes["gen_ai.provider.name"] == "openai"
    assert span.attributes["agentkit.outcome"] == "failed"
    assert span.status.status_code is StatusCode.ERROR


class _AlwaysDeep:
    def route(self, context: RouteContext) -> Decision:
        return Decision("deep", {}, ("test: deep",))

    def should_escalate(self, context: RouteContext, stats: StreamSignals) -> Decision | None:
        return None


_WITHOUT_OTEL = """
import sys
sys.modules["opentelemetry"] = None  # as if the extra were not installed
import agentkit
from agentkit import Agent, Runner, ScriptedModel
result = Runner.run_sync(Agent(fast=ScriptedModel(["Hi."])), "hi")
assert (result.text, result.outcome) == ("Hi.", "ok"), result
try:
    import agentkit.otel
except ImportError as exc:
    print("IMPORT_ERROR", exc)
"""

_IMPORT_ONLY = """
import sys
import agentkit
from agentkit import Agent, Runner, ScriptedModel
Runner.run_sync(Agent(fast=ScriptedModel(["Hi."])), "hi")
print(sorted(m for m in sys.modules if m.split(".")[0] == "opentelemetry"))
"""


def test_import_agentkit_never_imports_opentelemetry() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _IMPORT_ONLY], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_without_the_extra_turns_work_and_agentkit_otel_names_the_extra() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _WITHOUT_OTEL], capture_output=True, text=True, check=True
    )
    assert "IMPORT_ERROR" in out.stdout
    assert "pip install 'agentkit[otel]'" in out.stdout


def test_surface_and_docstring_example() -> None:
    import agentkit.otel

    assert agentkit.otel.__all__ == ["OTelTraceHook"]
    outcome = doctest.testmod(agentkit.otel, optionflags=doctest.ELLIPSIS)
    assert outcome.attempted > 0 and outcome.failed == 0
