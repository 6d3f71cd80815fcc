"""The agent benchmark runs end to end on a few turns and reports typed results."""

from __future__ import annotations

import json
from contextlib import aclosing

import anyio

from agentkit import ScriptedModel
from agentkit._agent import Agent
from agentkit._runner import Runner
from agentkit._turn_events import TurnEvent
from agentkit.bench._agent import run_agent_bench


def test_bench_smoke() -> None:
    result = run_agent_bench(turns=6, budget_ms=120.0, overhead_turns=10)
    data = json.loads(result.to_json())
    assert data["fault_errors"] == 0 and data["fault_stored"] == 6
    assert sum(data["stall_outcomes"].values()) == 12
    allowed = {"degraded", "budget_exceeded"}  # never "error", never an exception
    assert set(data["stall_outcomes"]) <= allowed | {f"deep_only_{k}" for k in allowed}
    assert data["fault_requests"] >= 1


def test_stream_closed_early_abandons_the_turn_cleanly() -> None:
    agent = Agent(fast=ScriptedModel(["one two three four"], delay_s=0.05))

    async def first_event() -> TurnEvent:
        async with aclosing(Runner.stream(agent, "count")) as events:  # type: ignore[type-var]
            async for event in events:
                return event
        raise AssertionError("no events")

    assert type(anyio.run(first_event)).__name__ == "SafetyEvent"
