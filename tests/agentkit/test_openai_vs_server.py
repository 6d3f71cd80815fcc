"""`OpenAIModel` against our own `agentkit serve` app (an independent server implementation)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import anyio
import pytest

from agentkit import Message, ScriptedModel, ToolCall
from agentkit._agent import Agent
from agentkit._doubles import Reply
from agentkit._model import ModelEvent, StreamStatsEvent, TextDeltaEvent, ToolCallEvent
from agentkit._openai_model import OpenAIModel
from agentkit._runner import Runner
from agentkit.testing import FunctionModel
from tools import calculator

server_mod = pytest.importorskip("agentkit.server")


@contextmanager
def serve(script: list[Reply]) -> Iterator[tuple[ScriptedModel, str]]:
    backend = ScriptedModel(script, name="served")
    with server_mod.ServerThread(server_mod.create_app(backend)) as srv:
        yield backend, srv.url + "/v1"


def _events(model: OpenAIModel) -> list[ModelEvent]:
    async def main() -> list[ModelEvent]:
        try:
            return [e async for e in model.stream([Message.user("hi")])]
        finally:
            await model.aclose()

    return anyio.run(main)


def test_streams_text_and_final_stats() -> None:
    with serve(["Hello from the served model."]) as (backend, url):
        events = _events(OpenAIModel("served", base_url=url))
    assert "".join(e.text for e in events if isinstance(e, TextDeltaEvent)) == (
        "Hello from the served model."
    )
    assert any(isinstance(e, StreamStatsEvent) and e.final for e in events)
    assert backend.calls[0].deadline is not None  # deadline_ms crossed the process boundary


def test_remote_fast_tier_with_tools() -> None:
    script: list[Reply] = [
        ToolCall.of("c1", "calculator", '{"expression": "7*6"}'),
        "The answer is 42.",
    ]
    with serve(script) as (backend, url):
        agent = Agent(fast=OpenAIModel("served", base_url=url), tools=[calculator])
        result = Runner.run_sync(agent, "seven times six")
    assert (result.outcome, result.text, result.tier) == ("ok", "The answer is 42.", "fast")
    tool_message = backend.calls[1].messages[-1]
    assert (tool_message.role, tool_message.content) == ("tool", "42")


def test_streamed_tool_call_arrives_whole() -> None:
    with serve([ToolCall.of("c9", "clock", "{}")]) as (_, url):
        events = _events(OpenAIModel("served", base_url=url))
    (call,) = [e.call for e in events if isinstance(e, ToolCallEvent)]
    assert (call.function.name, call.function.arguments) == ("clock", "{}")


def test_function_model_sees_the_conversation() -> None:
    echo = FunctionModel(lambda call: f"{len(call.messages)} messages")
    with server_mod.ServerThread(server_mod.create_app(echo)) as srv:
        model = OpenAIModel("function", base_url=srv.url + "/v1")
        events = _events(model)
    assert "".join(e.text for e in events if isinstance(e, TextDeltaEvent)) == "1 messages"
