"""Budget policies: every slow stage ends as a typed outcome inside the turn's budget."""

from __future__ import annotations

import anyio
import pytest

from agentkit import ScriptedModel
from agentkit._agent import Agent
from agentkit._budget import BudgetPolicy, Deadline
from agentkit._errors import ConfigError, ModelUnavailableError
from agentkit._runner import Runner
from agentkit._turn_events import BudgetEvent
from agentkit.testing import FunctionModel
from tools import tool

# Generous: these tests check that a stalled stage is cut, not how precisely
# (the benchmark measures the overshoot).
SLACK_MS = 700.0
POLICY = BudgetPolicy(fallback_reserve_ms=250.0, tool_ms=100.0)


def test_slow_deep_falls_back_to_the_fast_answer() -> None:
    deep = ScriptedModel(["too late"], name="deep", delay_s=10.0)
    fast = ScriptedModel(["Fast answer."], name="fast")
    agent = Agent(fast=fast, deep=deep, budget_ms=600, policy=POLICY)
    result = Runner.run_sync(agent, "what is 6 * 7")  # routed deep
    assert (result.outcome, result.tier, result.text) == ("degraded", "fast", "Fast answer.")
    assert [(h.tier, h.outcome) for h in result.hops] == [("deep", "deadline"), ("fast", "done")]
    assert result.elapsed_ms < result.budget_ms + SLACK_MS


def test_deep_first_without_a_fast_tier_gives_the_holding_reply() -> None:
    deep = ScriptedModel(["too late"], delay_s=10.0)
    agent = Agent(deep=deep, budget_ms=300, policy=POLICY, holding_reply="One moment please.")
    result = Runner.run_sync(agent, "hello")
    assert (result.outcome, result.text, result.tier) == ("degraded", "One moment please.", None)
    assert result.elapsed_ms < result.budget_ms + SLACK_MS


def test_deep_down_and_fast_failing_gives_the_holding_reply() -> None:
    deep = ScriptedModel([ModelUnavailableError("circuit breaker open")])
    fast = ScriptedModel([ModelUnavailableError("engine overloaded")])
    agent = Agent(fast=fast, deep=deep, budget_ms=500, policy=POLICY)
    result = Runner.run_sync(agent, "prove it step by step")
    assert (result.outcome, result.text) == ("degraded", agent.holding_reply)
    assert [(h.tier, h.outcome) for h in result.hops] == [("deep", "failed"), ("fast", "failed")]


def test_slow_fast_tier_returns_the_text_so_far() -> None:
    words = "one two three four five six seven eight nine ten"
    fast = ScriptedModel([words], delay_s=0.08)
    agent = Agent(fast=fast, budget_ms=400, policy=POLICY)
    result = Runner.run_sync(agent, "count slowly")
    assert result.outcome == "budget_exceeded" and result.tier == "fast"
    assert result.text and words.startswith(result.text) and result.text != words
    assert result.elapsed_ms < result.budget_ms + SLACK_MS


def test_slow_tool_gives_the_model_a_typed_timeout() -> None:
    @tool
    async def slow_lookup(key: str) -> str:
        """A lookup that hangs."""
        await anyio.sleep(30)
        return "never"

    from agentkit import ToolCall

    fast = ScriptedModel(
        [ToolCall.of("t1", "slow_lookup", '{"key": "x"}'), "The lookup timed out."]
    )
    agent = Agent(fast=fast, tools=[slow_lookup], budget_ms=2000, policy=POLICY)

    async def collect() -> list[object]:
        return [e async for e in Runner.stream(agent, "look x up")]

    events = anyio.run(collect)
    result = events[-1].result  # type: ignore[attr-defined]
    assert result.outcome == "ok" and result.text == "The lookup timed out."
    tool_message = fast.calls[1].messages[-1]
    assert tool_message.role == "tool" and "timed out" in (tool_message.content or "")
    assert any(isinstance(e, BudgetEvent) and e.stage == "tools" for e in events)


def test_model_receives_the_turn_deadline() -> None:
    fast = FunctionModel(lambda call: "ok")
    deadline_box: list[float | None] = []
    agent = Agent(fast=fast, budget_ms=1000)
    Runner.run_sync(agent, "hi")
    deadline_box.append(fast.calls[0].deadline)
    assert deadline_box[0] is not None


def test_deadline_scope_fires_at_a_monotonic_time() -> None:
    async def main() -> bool:
        deadline = Deadline.after_ms(30)
        with Deadline.scope(deadline.at) as scope:
            await anyio.sleep(5)
        return scope.cancelled_caught and deadline.remaining_ms() <= 0

    assert anyio.run(main)


def test_budget_policy_is_validated() -> None:
    with pytest.raises(ConfigError):
        BudgetPolicy(tool_ms=0)
    with pytest.raises(ConfigError):
        BudgetPolicy(warn_fraction=1.5)


def test_non_positive_budget_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        Runner.run_sync(Agent(fast=ScriptedModel(["x"])), "hi", budget_ms=0)
