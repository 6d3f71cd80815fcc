"""The agent loop end to end with the SDK's doubles: tools, routing, escalation, safety, input."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import anyio
import pytest
from _loop_filters import BrokenFilter, KeywordFilter

from agentkit import Message, ModelResponse, ScriptedModel, SpeculativeStats, ToolCall
from agentkit._agent import Agent
from agentkit._budget import BudgetPolicy
from agentkit._errors import ConfigError
from agentkit._messages import ToolSchema
from agentkit._model import (
    FinishEvent,
    ModelEvent,
    SamplingSettings,
    StreamStatsEvent,
    TextDeltaEvent,
    UsageEvent,
)
from agentkit._runner import Runner
from agentkit._sessions import SQLiteStore
from agentkit._tracing import Trace
from agentkit._turn import CONTINUE_INSTRUCTION, WITHHELD
from agentkit._turn_events import (
    BudgetEvent,
    ResultEvent,
    RouteEvent,
    SafetyEvent,
    TextEvent,
    ToolEndEvent,
    ToolStartEvent,
)
from agentkit.testing import FunctionModel, ModelCall
from tools import ToolRegistry, calculator, tool


class CollapsingModel:
    """A fast tier whose acceptance collapses after ``good`` words (a `Model` double)."""

    def __init__(self, words: list[str], good: int) -> None:
        self.words, self.good = words, good
        self.name = "collapsing"

    async def complete(self, messages: Sequence[Message], **_: object) -> ModelResponse:
        raise NotImplementedError

    async def stream(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSchema] = (),
        settings: SamplingSettings | None = None,
        deadline: float | None = None,
    ) -> AsyncIterator[ModelEvent]:
        for i, word in enumerate(self.words):
            yield TextDeltaEvent(text=word if i == 0 else " " + word)
            drafted = 8 * (i + 1)
            accepted = drafted - 1 if i < self.good else 8 * self.good - 1
            rate = accepted / drafted
            stats = SpeculativeStats(
                mode="ngram", drafted=drafted, accepted=accepted, acceptance_rate=rate
            )
            yield StreamStatsEvent(stats=stats, tokens=i + 1)
        yield UsageEvent(usage=__import__("agentkit").Usage(completion_tokens=len(self.words)))
        yield FinishEvent(reason="stop")


def test_tool_call_round_trip_reaches_the_model() -> None:
    fast = ScriptedModel(
        [ToolCall.of("c1", "calculator", '{"expression": "2**10"}'), "It is 1024."]
    )
    agent = Agent(fast=fast, tools=[calculator])
    result = Runner.run_sync(agent, "what is two to the tenth")
    assert (result.outcome, result.text, result.tier) == ("ok", "It is 1024.", "fast")
    second = fast.calls[1].messages
    assert second[-2].tool_calls is not None and second[-2].tool_calls[0].id == "c1"
    assert (second[-1].role, second[-1].tool_call_id, second[-1].content) == ("tool", "c1", "1024")
    assert fast.calls[0].tools[0]["function"]["name"] == "calculator"


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (ToolCall.of("c1", "calculator", "{not json"), "not valid JSON"),
        (ToolCall.of("c1", "nosuch", "{}"), "Unknown tool"),
        (ToolCall.of("c1", "calculator", '{"expression": 5}'), "Invalid arguments"),
    ],
)
def test_bad_tool_calls_come_back_to_the_model(call: ToolCall, expected: str) -> None:
    fast = ScriptedModel([call, "fixed"])
    result = Runner.run_sync(Agent(fast=fast, tools=[calculator]), "hi")
    assert result.outcome == "ok"
    assert expected in (fast.calls[1].messages[-1].content or "")


def test_model_looping_on_tools_stops_at_max_rounds() -> None:
    loop = FunctionModel(
        lambda call: ToolCall.of(
            f"c{len(call.messages)}",
            "calculator",
            json.dumps({"expression": str(len(call.messages))}),
        )
    )
    agent = Agent(fast=loop, tools=[calculator], max_tool_rounds=3)
    result = Runner.run_sync(agent, "loop forever")
    assert result.outcome == "degraded"
    assert len(loop.calls) == 4  # the first call and three rounds of tool results
    assert result.text == agent.holding_reply
    assert any("still calling tools" in r for r in result.reasons)


def test_the_round_after_the_last_tool_round_must_answer() -> None:
    def reply(call: ModelCall) -> ToolCall | str:
        if call.settings.tool_choice == "none":
            return "It is 3."
        return ToolCall.of(f"c{len(call.messages)}", "calculator", '{"expression": "1+2"}')

    model = FunctionModel(reply)
    result = Runner.run_sync(Agent(fast=model, tools=[calculator], max_tool_rounds=1), "1+2?")
    assert (result.outcome, result.text) == ("ok", "It is 3.")
    assert [c.settings.tool_choice for c in model.calls] == ["auto", "none"]
    assert model.calls[1].messages[-1].content == "3"  # the result it answers from


def test_a_repeated_tool_call_is_answered_from_its_result() -> None:
    ran: list[str] = []

    @tool
    def lookup(account: str) -> str:
        """Look an account up."""
        ran.append(account)
        return f"{account}: balance 12.50"

    def reply(call: ModelCall) -> ToolCall | str:
        if call.settings.tool_choice == "none":
            return "Your balance is 12.50."
        # the same call each time, with the keys in another order from the second on
        args = '{"account": "A1"}' if len(call.messages) < 3 else '{ "account" : "A1" }'
        return ToolCall.of(f"c{len(call.messages)}", "lookup", args)

    model = FunctionModel(reply)
    result = Runner.run_sync(Agent(fast=model, tools=[lookup]), "balance of A1?")
    assert (result.outcome, result.text) == ("ok", "Your balance is 12.50.")
    assert ran == ["A1"]  # run once, not again for the repeat
    assert [c.settings.tool_choice for c in model.calls] == ["auto", "auto", "none"]
    assert all(c.tools for c in model.calls)  # the prompt keeps its tools (a cache prefix)
    assert any("repeated a tool call" in r for r in result.reasons)


def test_router_sends_arithmetic_deep_and_records_the_hop() -> None:
    fast, deep = ScriptedModel([]), ScriptedModel(["Deep says 42."], name="deep")
    result = Runner.run_sync(Agent(fast=fast, deep=deep), "what is 6 * 7")
    assert (result.outcome, result.tier, result.text) == ("ok", "deep", "Deep says 42.")
    assert [h.tier for h in result.hops] == ["deep"] and "math matched" in result.hops[0].reason
    assert not fast.calls


def test_mid_stream_escalation_continues_without_repeating() -> None:
    fast = CollapsingModel(["Paris", "is", "xx", "yy", "zz"], good=1)
    deep = FunctionModel(lambda call: "Paris is the capital of France.", name="deep")
    agent = Agent(fast=fast, deep=deep)
    result = Runner.run_sync(agent, "tell me about Paris")
    assert result.outcome == "ok" and result.tier == "deep"
    assert [(h.tier, h.outcome) for h in result.hops] == [("fast", "escalate"), ("deep", "done")]
    sent = deep.calls[0].messages
    assert sent[-2] == Message.assistant("Paris is") and sent[-1].content == CONTINUE_INSTRUCTION
    # The deep tier restated the prefix; the user sees it once.
    assert result.text == "Paris is the capital of France."
    assert result.text.count("Paris") == 1


def test_stream_yields_typed_events_in_order() -> None:
    fast = ScriptedModel([ToolCall.of("c1", "calculator", '{"expression": "1+1"}'), "Two it is."])
    agent = Agent(fast=fast, tools=[calculator])

    async def collect() -> list[object]:
        return [event async for event in Runner.stream(agent, "one plus one?")]

    events = anyio.run(collect)
    kinds = [type(e) for e in events]
    assert kinds[:2] == [SafetyEvent, RouteEvent]
    assert kinds.index(ToolStartEvent) < kinds.index(ToolEndEvent) < kinds.index(TextEvent)
    assert isinstance(events[-1], ResultEvent) and kinds.count(ResultEvent) == 1
    text = "".join(e.text for e in events if isinstance(e, TextEvent))
    assert text == events[-1].result.text == "Two it is."


def test_input_refused_by_safety_never_reaches_a_model() -> None:
    fast = ScriptedModel([])
    result = Runner.run_sync(Agent(fast=fast, safety=KeywordFilter()), "how to build a bomb")
    assert result.outcome == "refused" and result.tier is None and not fast.calls
    assert result.safety is not None and result.safety.action == "refuse"


def test_safety_escalate_verdict_routes_deep() -> None:
    fast, deep = ScriptedModel([]), ScriptedModel(["See a lawyer."])
    result = Runner.run_sync(Agent(fast=fast, deep=deep, safety=KeywordFilter()), "I need a lawyer")
    assert result.tier == "deep" and "safety verdict: escalate" in result.hops[0].reason


def test_pii_is_redacted_before_model_and_store() -> None:
    fast = ScriptedModel(["Noted."])
    agent = Agent(fast=fast, safety=KeywordFilter())
    Runner.run_sync(agent, "mail me at ann@example.com", session_id="s1")
    assert fast.calls[0].messages[-1].content == "mail me at [EMAIL]"
    stored = anyio.run(lambda: agent.store.load("s1", max_chars=1000))
    assert "ann@example.com" not in json.dumps([m.to_openai() for m in stored])


def test_tool_results_pass_the_safety_check() -> None:
    @tool
    def lookup(key: str) -> str:
        """Look a key up."""
        return "the bomb recipe" if key == "bad" else "contact: bob@corp.example.org"

    calls = [
        ToolCall.of("a", "lookup", '{"key": "bad"}'),
        ToolCall.of("b", "lookup", '{"key": "ok"}'),
    ]
    fast = ScriptedModel([calls, "done"])
    Runner.run_sync(Agent(fast=fast, tools=[lookup], safety=KeywordFilter()), "look up")
    contents = [m.content for m in fast.calls[1].messages if m.role == "tool"]
    assert contents == [WITHHELD, "contact: [EMAIL]"]


def test_output_guard_refuses_before_unchecked_text_leaves() -> None:
    fast = ScriptedModel(["Sure, the SECRET code is 1234"])
    agent = Agent(fast=fast, safety=KeywordFilter())

    async def collect() -> list[object]:
        return [event async for event in Runner.stream(agent, "tell me")]

    events = anyio.run(collect)
    shown = "".join(e.text for e in events if isinstance(e, TextEvent))
    assert "SECRET" not in shown
    result = events[-1].result  # type: ignore[attr-defined]
    assert result.outcome == "refused" and result.text == agent.refusal_reply


def test_failing_safety_backend_fails_closed_by_default() -> None:
    fast = ScriptedModel(["hi"])
    result = Runner.run_sync(Agent(fast=fast, safety=BrokenFilter()), "hello")
    assert result.outcome == "refused" and not fast.calls
    assert "safety check failed" in " ".join(result.reasons)


@pytest.mark.parametrize("text", ["", "   \n"])
def test_empty_input_is_refused_without_a_model(text: str) -> None:
    fast = ScriptedModel([])
    result = Runner.run_sync(Agent(fast=fast), text)
    assert result.outcome == "refused" and "empty input" in result.reasons and not fast.calls


def test_huge_input_is_refused_with_a_clear_reason() -> None:
    fast = ScriptedModel([])
    result = Runner.run_sync(Agent(fast=fast, max_input_chars=1000), "x" * 1_000_000)
    assert result.outcome == "refused" and "input too long" in result.reasons[0]


def test_invalid_utf8_bytes_are_replaced_and_noted() -> None:
    echo = FunctionModel(lambda call: call.messages[-1].content or "")
    result = Runner.run_sync(Agent(fast=echo), b"caf\xc3\xa9 \xff\xfe ok")
    assert result.outcome == "ok" and result.text == "café \ufffd\ufffd ok"
    assert any("invalid UTF-8" in r for r in result.reasons)
    surrogate = Runner.run_sync(Agent(fast=echo), "bad \udcff end")
    assert surrogate.outcome == "ok" and "\udcff" not in surrogate.text


def test_unexpected_exception_is_an_error_outcome() -> None:
    result = Runner.run_sync(Agent(fast=ScriptedModel([])), "hi")  # the script is empty
    assert result.outcome == "error" and result.error is not None
    assert result.error.type == "UserError"


def test_usage_and_cost_per_tier() -> None:
    from agentkit._agent import Price

    fast = ScriptedModel(["one two three four"])
    agent = Agent(fast=fast, prices={"fast": Price(prompt_per_m=0.0, completion_per_m=1_000_000.0)})
    result = Runner.run_sync(agent, "count")
    assert result.usage["fast"].usage.completion_tokens == 4
    assert result.usage["fast"].cost_usd == pytest.approx(4.0)
    assert result.usage["fast"].calls == 1


def test_trace_hook_gets_one_span_per_stage() -> None:
    traces: list[Trace] = []
    agent = Agent(fast=ScriptedModel(["ok"]), trace_hook=traces.append)
    result = Runner.run_sync(agent, "hi", session_id="t")
    (trace,) = traces
    assert trace.turn_id == result.turn_id
    names = [s.name for s in trace.spans]
    assert names == ["turn", "safety_in", "history", "route", "model.fast", "safety_out", "store"]
    assert all(s.end_ms >= s.start_ms for s in trace.spans)
    # W3C widths: a 128-bit trace id, 64-bit span ids; every stage is a child of the turn.
    assert len(trace.trace_id) == 32 and int(trace.trace_id, 16) != 0
    root, *stages = trace.spans
    assert root.parent_id is None and root.end_ms >= max(s.end_ms for s in stages)
    assert all(len(s.span_id) == 16 and s.parent_id == root.span_id for s in stages)
    assert len({s.span_id for s in trace.spans}) == len(trace.spans)


def test_agent_validates_its_configuration() -> None:
    with pytest.raises(ConfigError):
        Agent()
    with pytest.raises(ConfigError):
        Agent(fast=ScriptedModel([]), budget_ms=0)


def test_history_is_sent_on_the_next_turn() -> None:
    def reply(call: ModelCall) -> str:
        return f"seen {len(call.messages)}"

    agent = Agent(instructions="Be brief.", fast=FunctionModel(reply))
    Runner.run_sync(agent, "first", session_id="h")
    second = Runner.run_sync(agent, "second", session_id="h")
    assert second.text == "seen 4"  # system, user, assistant, user


def test_escalated_deep_too_slow_falls_back_to_fast_continuation() -> None:
    fast = CollapsingModel(["Paris", "is", "xx", "yy"], good=1)
    deep = ScriptedModel(["never"], name="deep", delay_s=10.0)
    policy = BudgetPolicy(fallback_reserve_ms=300.0)
    agent = Agent(fast=fast, deep=deep, budget_ms=700, policy=policy)
    result = Runner.run_sync(agent, "tell me about Paris")
    assert (result.outcome, result.tier) == ("degraded", "fast")
    outcomes = [(h.tier, h.outcome) for h in result.hops]
    assert outcomes == [("fast", "escalate"), ("deep", "deadline"), ("fast", "done")]
    assert result.text == "Paris is xx yy"  # the fast replay's repeat of "Paris is" was dropped


def test_concurrent_turns_all_reach_the_sqlite_store(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "c.db")
    agent = Agent(fast=FunctionModel(lambda call: "ok", delay_s=0.01), store=store)
    outcomes: list[str] = []

    async def one(i: int) -> None:
        outcomes.append((await Runner.run(agent, f"q{i}", session_id=f"s{i % 3}")).outcome)

    async def main() -> None:
        async with anyio.create_task_group() as group:
            for i in range(30):
                group.start_soon(one, i)

    anyio.run(main)
    assert outcomes == ["ok"] * 30
    assert sum(store.count(f"s{k}") for k in range(3)) == 60


def test_budget_warning_when_most_of_the_budget_is_spent() -> None:
    fast = ScriptedModel(["slow answer here"], delay_s=0.15)
    agent = Agent(fast=fast, budget_ms=2000, policy=BudgetPolicy(warn_fraction=0.1))

    async def collect() -> list[object]:
        return [e async for e in Runner.stream(agent, "hi")]

    events = anyio.run(collect)
    warnings = [e for e in events if isinstance(e, BudgetEvent)]
    assert [w.stage for w in warnings] == ["turn"]


def test_agent_accepts_a_ready_registry() -> None:
    registry = ToolRegistry([calculator])
    agent = Agent(fast=ScriptedModel(["x"]), tools=registry)
    assert agent.registry is registry and agent.registry.names == ["calculator"]


def test_real_local_filter_keeps_pii_out_of_the_store_and_output() -> None:
    safety = pytest.importorskip("agentkit.safety")
    fast = ScriptedModel(["Sure, write to bob@example.com for details."])
    agent = Agent(fast=fast, safety=safety.LocalSafetyFilter())
    result = Runner.run_sync(agent, "my email is ann@example.com", session_id="p")
    assert result.outcome == "ok" and "bob@example.com" not in result.text
    stored = anyio.run(lambda: agent.store.load("p", max_chars=1000))
    dumped = json.dumps([m.to_openai() for m in stored])
    assert "ann@example.com" not in dumped and "bob@example.com" not in dumped
    assert "ann@example.com" not in (fast.calls[0].messages[-1].content or "")


def test_abandoned_fast_stream_still_counts_its_tokens() -> None:
    fast = CollapsingModel(["Paris", "is", "xx"], good=1)
    deep = FunctionModel(lambda call: "Paris is lovely.", name="deep")
    result = Runner.run_sync(Agent(fast=fast, deep=deep), "Paris?")
    assert result.usage["fast"].usage.completion_tokens == 2  # escalated after two tokens
    assert result.usage["deep"].calls == 1
