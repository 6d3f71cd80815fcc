"""`EngineModel`: no torch at import; with the real default model (slow), text and tool calls."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import anyio
import pytest

from agentkit import Message, SamplingSettings
from agentkit._agent import Agent
from agentkit._engine_model import EngineModel
from agentkit._runner import Runner
from tools import calculator


def test_agent_loop_modules_do_not_import_torch() -> None:
    code = (
        "import sys, agentkit._engine_model, agentkit._runner, agentkit._openai_model, "
        "agentkit.bench._agent; print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.fixture(scope="module")
def model() -> Iterator[EngineModel]:
    engine = pytest.importorskip("engine")
    yield EngineModel(engine.Engine.load("default", max_slots=2, max_seq_len=1024))


@pytest.mark.slow
def test_engine_answers_within_max_tokens(model: EngineModel) -> None:
    settings = SamplingSettings(max_tokens=8)

    async def main() -> Any:
        return await model.complete([Message.user("Say hello.")], settings=settings)

    response = anyio.run(main)
    assert response.text and response.usage.completion_tokens <= 8
    assert response.finish_reason in ("stop", "length")


@pytest.mark.slow
def test_engine_tool_reply_is_well_formed(model: EngineModel) -> None:
    settings = SamplingSettings(max_tokens=48)
    messages = [Message.user("Use the calculator: what is 12*34?")]

    async def main() -> Any:
        return await model.complete(messages, tools=[calculator.openai_schema()], settings=settings)

    response = anyio.run(main)
    if response.tool_calls:
        (call,) = response.tool_calls
        assert call.function.name == "calculator"
        assert isinstance(json.loads(call.function.arguments), dict)
    else:  # an answer, unwrapped from {"answer": ...}
        assert response.text and not response.text.lstrip().startswith('{"answer"')


@pytest.mark.slow
def test_engine_as_the_fast_tier_of_a_turn(model: EngineModel) -> None:
    agent = Agent(fast=model, budget_ms=120_000, settings=SamplingSettings(max_tokens=12))
    result = Runner.run_sync(agent, "Hi there!")
    assert result.outcome == "ok" and result.tier == "fast" and result.text
    assert result.usage["fast"].usage.completion_tokens <= 12


def test_tool_choice_none_answers_over_a_history_with_tool_turns(model: EngineModel) -> None:
    from agentkit import ToolCall

    call = ToolCall.of("c1", "calculator", '{"expression": "12*34"}')
    messages = [
        Message.user("Use the calculator: what is 12*34?"),
        Message.assistant(None, [call]),
        Message.tool("c1", "408"),
    ]
    settings = SamplingSettings(max_tokens=24, tool_choice="none")

    async def main() -> Any:
        tools = [calculator.openai_schema()]
        shown = await model.complete(messages, tools=tools, settings=settings)
        hidden = await model.complete(messages, settings=SamplingSettings(max_tokens=8))
        return shown, hidden

    shown, hidden = anyio.run(main)
    # the reply is constrained to the answer branch: never a call, always unwrapped text
    assert not shown.tool_calls and shown.finish_reason != "tool_calls"
    assert not (shown.text or "").lstrip().startswith("{")
    # with no tools at all, the tool turns still render on the tool-less template
    assert hidden.text is not None and not hidden.tool_calls


def test_tool_call_ids_are_a_hash_of_the_prompt_and_the_reply() -> None:
    """Same conversation, same id: prompts that carry it are the same from run to run."""
    from agentkit._engine_model import call_id

    reply = '{"tool": "calculator", "arguments": {"expression": "12*34"}}'
    first = call_id("<prompt>", reply)
    assert first == call_id("<prompt>", reply) and re.fullmatch(r"call_[0-9a-f]{12}", first)
    assert call_id("<prompt> and one more turn", reply) != first  # a later call, another id
    assert call_id("<prompt>", reply + " ") != first


@pytest.mark.slow
def test_the_same_tool_request_gets_the_same_call_id_twice(model: EngineModel) -> None:
    settings = SamplingSettings(max_tokens=48)
    messages = [Message.user("Call the calculator tool with the expression 12*34.")]  # it does

    async def main() -> Any:
        return await model.complete(messages, tools=[calculator.openai_schema()], settings=settings)

    first, second = anyio.run(main), anyio.run(main)
    assert first.tool_calls and [c.id for c in first.tool_calls] == [
        c.id for c in second.tool_calls
    ]
