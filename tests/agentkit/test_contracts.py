"""The contracts: wire shapes, the doubles, the error tree, the network guard."""

from __future__ import annotations

import importlib
import json
import socket
import threading

import anyio
import pytest
from pydantic import ValidationError

import agentkit
import agentkit.errors
from agentkit import (
    FunctionModel,
    Message,
    ModelResponse,
    SamplingSettings,
    ScriptedModel,
    ToolCall,
)
from agentkit.events import FinishEvent, StreamStatsEvent, TextDeltaEvent, ToolCallEvent, UsageEvent
from agentkit.testing import ModelCall, block_network


def test_message_matches_openai_wire_shape() -> None:
    call = ToolCall.of("call_1", "calculator", '{"expression": "2+2"}')
    msg = Message.assistant(None, [call])
    assert msg.to_openai() == {
        "role": "assistant",
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "calculator", "arguments": '{"expression": "2+2"}'},
            }
        ],
    }
    # And back: a wire dict validates into the same message.
    assert Message.model_validate(msg.to_openai()) == msg
    assert Message.tool("call_1", "4").to_openai() == {
        "role": "tool",
        "content": "4",
        "tool_call_id": "call_1",
    }


def test_scripted_tool_call_round_trip() -> None:
    """Model asks for a tool, receives its result, then answers from it."""
    model = ScriptedModel([ToolCall.of("c1", "add", '{"a": 2, "b": 3}'), "The sum is 5."])
    tools = [{"type": "function", "function": {"name": "add", "parameters": {}}}]

    async def conversation() -> tuple[ModelResponse, ModelResponse]:
        history = [Message.user("add 2 and 3")]
        first = await model.complete(history, tools=tools)
        assert first.finish_reason == "tool_calls"
        (call,) = first.tool_calls
        args = json.loads(call.function.arguments)
        history += [first.message, Message.tool(call.id, str(args["a"] + args["b"]))]
        second = await model.complete(history, tools=tools)
        return first, second

    _, second = anyio.run(conversation)
    assert second.text == "The sum is 5."
    assert model.remaining == 0
    # The double saw the tool result in its second call, and the schemas both times.
    assert model.calls[1].messages[-1] == Message.tool("c1", "5")
    assert all(c.tools == tuple(tools) for c in model.calls)


def test_scripted_model_raises_scripted_exceptions_and_runs_out() -> None:
    boom = agentkit.errors.ModelHTTPError(503, "down")
    model = ScriptedModel([boom])
    with pytest.raises(agentkit.errors.ModelHTTPError) as info:
        anyio.run(lambda: model.complete([Message.user("x")]))
    assert info.value.retryable and info.value.status == 503
    with pytest.raises(agentkit.errors.UserError, match="ran out"):
        anyio.run(lambda: model.complete([Message.user("x")]))


def test_stream_event_order_and_text() -> None:
    model = ScriptedModel(["one two three"])

    async def collect() -> list[object]:
        return [e async for e in model.stream([Message.user("count")])]

    events = anyio.run(collect)
    text = "".join(e.text for e in events if isinstance(e, TextDeltaEvent))
    assert text == "one two three"
    kinds = [type(e) for e in events]
    assert kinds[-1] is FinishEvent and UsageEvent in kinds
    assert isinstance(events[-2], StreamStatsEvent) and events[-2].final
    assert kinds.index(UsageEvent) > max(i for i, k in enumerate(kinds) if k is TextDeltaEvent)


def test_stream_emits_tool_calls_and_honours_deadline() -> None:
    model = ScriptedModel([ToolCall.of("c", "clock")])

    async def collect() -> list[object]:
        return [e async for e in model.stream([Message.user("time?")])]

    events = anyio.run(collect)
    assert any(isinstance(e, ToolCallEvent) and e.call.function.name == "clock" for e in events)

    slow = ScriptedModel(["a b c d e f"], delay_s=0.05)

    async def cut() -> list[object]:
        deadline = anyio.current_time() + 0.12
        return [e async for e in slow.stream([Message.user("x")], deadline=deadline)]

    cut_events = anyio.run(cut)
    assert isinstance(cut_events[-1], FinishEvent) and cut_events[-1].reason == "deadline"
    assert 0 < sum(isinstance(e, TextDeltaEvent) for e in cut_events) < 6


def test_function_model_sees_call_and_can_be_async() -> None:
    async def reply(call: ModelCall) -> str:
        return f"{call.settings.max_tokens}:{call.messages[-1].content}"

    model = FunctionModel(reply)
    settings = SamplingSettings(max_tokens=7)
    out = anyio.run(lambda: model.complete([Message.user("hi")], settings=settings))
    assert out.text == "7:hi"


def test_sampling_settings_reject_invalid_values() -> None:
    for bad in ({"temperature": -1}, {"top_p": 0}, {"max_tokens": 0}, {"top_k": -3}):
        with pytest.raises(ValidationError):
            SamplingSettings(**bad)  # type: ignore[arg-type]


def test_turn_result_reports_stage_timings_keys() -> None:
    result = agentkit.TurnResult(text="", outcome="refused", budget_ms=1500)
    dumped = result.model_dump()
    assert set(dumped["timings_ms"]) == {"safety_in", "route", "model", "tools", "safety_out"}
    with pytest.raises(ValidationError):
        agentkit.TurnResult(text="", outcome="exploded", budget_ms=1)  # type: ignore[arg-type]


def test_every_error_is_exported_and_rooted() -> None:
    def subclasses(cls: type) -> set[type]:
        out: set[type] = set(cls.__subclasses__())
        for sub in list(out):
            out |= subclasses(sub)
        return out

    exported = {getattr(agentkit.errors, n) for n in agentkit.errors.__all__}
    assert subclasses(agentkit.errors.AgentkitError) <= exported
    assert all(issubclass(e, agentkit.AgentkitError) for e in exported)
    # The tree is drawn in the module docstring, one line per class.
    assert all(e.__name__ in (agentkit.errors.__doc__ or "") for e in exported)


def test_network_guard_blocks_remote_and_allows_loopback() -> None:
    outer = socket.getaddrinfo  # the autouse fixture's guard, or the real function
    with block_network():
        with pytest.raises(agentkit.errors.NetworkBlockedError):
            socket.create_connection(("203.0.113.7", 443), timeout=1)
        with pytest.raises(agentkit.errors.NetworkBlockedError):
            socket.getaddrinfo("api.openai.com", 443)
        server = socket.create_server(("127.0.0.1", 0))
        port = server.getsockname()[1]
        accepted = threading.Thread(target=lambda: server.accept()[0].close())
        accepted.start()
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            pass
        accepted.join(2)
        server.close()
    # Leaving the block restores what was there before.
    assert socket.getaddrinfo is outer


SURFACE = [
    "Agent", "AgentkitError", "AllowAll", "BudgetPolicy", "EngineModel", "FallbackModel",
    "FunctionModel", "Hop", "LocalSafetyFilter", "Message", "Model", "ModelResponse",
    "OpenAIModel", "Outcome", "Price", "Runner", "SQLiteStore", "SafetyFilter", "SafetyVerdict",
    "SamplingSettings", "ScriptedModel", "SpeculativeStats", "ToolCall", "ToolSource",
    "TurnResult", "Usage",
]  # fmt: skip
"""`agentkit.__all__`, exactly: adding a public name means adding it here (and to the CHANGELOG)."""

SUBMODULE_SURFACES = {
    "agentkit.answers": [
        "AnswerCheck", "CheckAction", "CheckReport", "CheckedClaim", "ClaimKind", "EmbedFn",
        "Extract", "Extractor", "Grounding", "GroundingSource", "default_embedder",
    ],
    "agentkit.approvals": ["Approval", "ApprovalRequest", "PendingTurn"],
    "agentkit.cli": ["configure_logging", "format_footer", "main", "turn_record", "warm_up"],
    "agentkit.messages": ["FunctionCall", "Message", "Role", "ToolCall", "ToolSchema", "Usage"],
    "agentkit.models": [
        "CircuitBreaker", "EngineModel", "FallbackModel", "Model", "ModelResponse", "OpenAIModel",
        "Preloading", "RetryPolicy", "SamplingSettings", "SpeculativeStats", "Timeouts",
        "Warmable",
    ],
    "agentkit.results": [
        "Attempt", "ErrorInfo", "Hop", "Outcome", "StageTimings", "TierUsage", "TurnResult",
        "Warmup",
    ],
    "agentkit.tracing": ["Span", "Trace", "TraceHook", "current_trace"],
}  # fmt: skip
"""The public submodules that hold the types the top-level names take, exactly (same rule)."""


def test_public_surface_is_pinned() -> None:
    """The surface is exactly `SURFACE`; a new public name is added there on purpose."""
    assert agentkit.__all__ == SURFACE == sorted(SURFACE)
    for name in agentkit.__all__:
        item = getattr(agentkit, name)
        if isinstance(item, type):
            assert item.__doc__, f"{name} lacks a docstring"


@pytest.mark.parametrize("name", sorted(SUBMODULE_SURFACES))
def test_public_submodule_surfaces_are_pinned(name: str) -> None:
    module = importlib.import_module(name)
    assert module.__all__ == SUBMODULE_SURFACES[name] == sorted(SUBMODULE_SURFACES[name])
    for attr in module.__all__:
        item = getattr(module, attr)
        assert item is not None
        # The same concept has one object: a name both here and in `agentkit` is that object.
        if attr in SURFACE:
            assert item is getattr(agentkit, attr)
