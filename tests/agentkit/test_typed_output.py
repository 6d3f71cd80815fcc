"""Typed output: `Agent(output_type=...)` decodes, validates and returns a typed value."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any, Literal

import anyio
import pytest
from pydantic import BaseModel, ConfigDict, Field

from agentkit import FunctionModel, SamplingSettings, ScriptedModel, ToolCall
from agentkit._agent import Agent
from agentkit._doubles import ModelCall
from agentkit._errors import ConfigError, ModelUnavailableError
from agentkit._model import ModelEvent, TextDeltaEvent
from agentkit._output_schema import output_schema
from agentkit._runner import Runner
from agentkit._turn import CONTINUE_INSTRUCTION
from agentkit._turn_events import ResultEvent, TextEvent
from agentkit._typed import CORRECTION
from router import Decision, RouteContext, StreamSignals
from tests.agentkit._loop_filters import KeywordFilter
from tools import calculator


class Signal(BaseModel):
    instrument: str = Field(max_length=8)
    direction: Literal["long", "short", "flat"]
    confidence: float = Field(ge=0, le=1)


class Contact(BaseModel):
    name: str
    note: str


class Node(BaseModel):
    name: str
    children: list[Node] = []


class Holder(BaseModel):
    tree: Node


GOOD = '{"instrument": "ACME", "direction": "long", "confidence": 0.7}'


@pytest.mark.parametrize(
    "output_type, why",
    [
        (Node, "recursive"),
        (Holder, "recursive"),
        (dict, "BaseModel"),
        ("Signal", "BaseModel"),
    ],
)
def test_a_type_the_engine_cannot_constrain_is_refused_at_construction(
    output_type: object, why: str
) -> None:
    with pytest.raises(ConfigError, match=why) as caught:
        Agent(fast=ScriptedModel([]), output_type=output_type)  # type: ignore[arg-type]
    assert caught.value.field == "output_type"


def test_unsupported_keywords_are_refused_at_construction() -> None:
    pytest.importorskip("llguidance")

    class Negated(BaseModel):
        word: str = Field(json_schema_extra={"not": {"const": "no"}})

    class LookAround(BaseModel):
        model_config = ConfigDict(regex_engine="python-re")
        word: str = Field(pattern=r"^(?!no)\w+$")

    for bad in (Negated, LookAround):
        with pytest.raises(ConfigError, match="cannot constrain"):
            Agent(fast=ScriptedModel([]), output_type=bad)


def test_output_type_and_an_explicit_schema_conflict() -> None:
    with pytest.raises(ConfigError, match="json_schema"):
        Agent(
            fast=ScriptedModel([]),
            output_type=Signal,
            settings=SamplingSettings(json_schema={"type": "object"}),
        )


def test_every_call_decodes_under_the_closed_schema() -> None:
    fast = ScriptedModel([GOOD])
    agent = Agent(fast=fast, output_type=Signal, settings=SamplingSettings(max_tokens=40))
    result = Runner.run_sync(agent, "ACME beats estimates")
    schema = fast.calls[0].settings.json_schema
    assert schema == output_schema(Signal) and schema["additionalProperties"] is False
    assert fast.calls[0].settings.max_tokens == 40  # the agent's own settings are kept
    assert (result.outcome, result.tier) == ("ok", "fast")
    assert result.output == Signal(instrument="ACME", direction="long", confidence=0.7)
    assert json.loads(result.text) == json.loads(GOOD)  # text: the raw JSON


def test_nested_types_are_closed_at_every_level() -> None:
    class Inner(BaseModel):
        x: int

    class Outer(BaseModel):
        inner: Inner
        items: list[Inner]

    schema = output_schema(Outer)
    assert schema["additionalProperties"] is False
    assert schema["$defs"]["Inner"]["additionalProperties"] is False


def test_an_invalid_answer_gets_one_corrective_retry_inside_the_budget() -> None:
    fast = ScriptedModel(['{"instrument": "ACME", "direction": "up", "confidence": 0.7}', GOOD])
    result = Runner.run_sync(Agent(fast=fast, output_type=Signal), "ACME beats")
    assert result.outcome == "ok" and result.output is not None
    assert result.output.direction == "long"  # type: ignore[attr-defined]
    retry = fast.calls[1].messages
    assert retry[-2].role == "assistant" and "up" in (retry[-2].content or "")
    assert retry[-1].role == "system" and retry[-1].content is not None
    assert retry[-1].content.startswith(CORRECTION.split("(")[0])
    assert "direction" in retry[-1].content  # the model is told what was wrong
    assert any("corrective retry" in r for r in result.reasons)
    assert result.elapsed_ms < result.budget_ms
    assert json.loads(result.text) == json.loads(GOOD)


def test_two_invalid_answers_end_degraded_with_the_holding_reply() -> None:
    fast = ScriptedModel(["not json", '{"instrument": "ACME"}'])
    agent = Agent(fast=fast, output_type=Signal)
    result = Runner.run_sync(agent, "ACME beats")
    assert (result.outcome, result.output, result.tier) == ("degraded", None, None)
    assert result.text == agent.holding_reply
    assert any(r.startswith("output did not validate") for r in result.reasons)


def test_a_refusal_is_an_outcome_never_a_string_inside_the_json() -> None:
    filt = KeywordFilter(banned_out="SECRET")
    fast = ScriptedModel(['{"name": "Bob", "note": "the SECRET plan"}'])
    agent = Agent(fast=fast, output_type=Contact, safety=filt)
    result = Runner.run_sync(agent, "who is Bob?")
    assert (result.outcome, result.output) == ("refused", None)
    assert result.text == agent.refusal_reply


def test_pii_in_string_fields_is_redacted_in_the_output() -> None:
    fast = ScriptedModel(['{"name": "Bob", "note": "write to bob@example.com today"}'])
    agent = Agent(fast=fast, output_type=Contact, safety=KeywordFilter())
    result = Runner.run_sync(agent, "who is Bob?")
    assert result.outcome == "ok"
    assert result.output == Contact(name="Bob", note="write to [EMAIL] today")


def test_tool_rounds_run_first_then_the_answer_is_typed() -> None:
    def reply(call: ModelCall) -> str | ToolCall:
        if not any(m.role == "tool" for m in call.messages):
            return ToolCall.of("c1", "calculator", '{"expression": "3.3 / 3.1 - 1"}')
        return '{"instrument": "ACME", "direction": "long", "confidence": 0.6}'

    fast = FunctionModel(reply)
    agent = Agent(fast=fast, tools=[calculator], output_type=Signal)
    result = Runner.run_sync(agent, "ACME EPS 3.30 vs 3.10 expected")
    assert result.outcome == "ok" and result.output is not None
    assert all(c.settings.json_schema == output_schema(Signal) for c in fast.calls)
    assert len(fast.calls[0].tools) == 1  # the tools are offered alongside the schema


def test_a_typed_answer_streams_once_whole_after_validation() -> None:
    fast = ScriptedModel([GOOD], delay_s=0.001)
    agent = Agent(fast=fast, output_type=Signal)

    async def main() -> list[object]:
        return [e async for e in Runner.stream(agent, "ACME")]

    events = anyio.run(main)
    texts = [e.text for e in events if isinstance(e, TextEvent)]
    assert len(texts) == 1 and json.loads(texts[0]) == json.loads(GOOD)
    assert isinstance(events[-1], ResultEvent) and events[-1].result.output is not None


class DeepRouter:
    def route(self, context: RouteContext) -> Decision:
        return Decision("deep", {}, ("hard",))

    def should_escalate(self, context: RouteContext, stats: StreamSignals) -> Decision | None:
        return None


class BreaksMidStream(ScriptedModel):
    """Streams half a JSON value, then the connection drops."""

    async def stream(self, messages: Any, **kwargs: Any) -> AsyncIterator[ModelEvent]:
        yield TextDeltaEvent(text='{"instrument": "AC')
        raise ModelUnavailableError("connection dropped", backend="deep")


def test_a_deep_tier_that_breaks_mid_answer_is_answered_afresh_not_continued() -> None:
    fast = ScriptedModel([GOOD])
    agent = Agent(fast=fast, deep=BreaksMidStream([]), output_type=Signal, router=DeepRouter())
    result = Runner.run_sync(agent, "why did ACME rise?")
    assert (result.outcome, result.tier) == ("degraded", "fast")
    assert result.output == Signal(instrument="ACME", direction="long", confidence=0.7)
    contents = [m.content for m in fast.calls[0].messages]
    assert CONTINUE_INSTRUCTION not in contents  # no half JSON to continue from
    assert json.loads(result.text) == json.loads(GOOD)
