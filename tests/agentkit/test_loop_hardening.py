"""The agent loop under bad input and broken parts: typed errors, documented outcomes."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Sequence

import anyio
import pytest

from agentkit import Message, ScriptedModel
from agentkit._agent import Agent
from agentkit._breaker import CircuitBreaker
from agentkit._budget import BudgetPolicy
from agentkit._errors import ConfigError
from agentkit._messages import ToolSchema
from agentkit._model import FinishEvent, ModelEvent, ModelResponse, SamplingSettings, TextDeltaEvent
from agentkit._openai_settings import RetryPolicy, Timeouts
from agentkit._runner import Runner
from agentkit._turn_events import BudgetEvent, TurnEvent


class _BreaksMidStream:
    """A model that streams some text, then fails with a bug (not a `BackendError`)."""

    name = "buggy"

    async def complete(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSchema] = (),
        settings: SamplingSettings | None = None,
        deadline: float | None = None,
    ) -> ModelResponse:
        raise NotImplementedError

    async def stream(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSchema] = (),
        settings: SamplingSettings | None = None,
        deadline: float | None = None,
    ) -> AsyncIterator[ModelEvent]:
        yield TextDeltaEvent(text="Half an ")
        raise RuntimeError("a bug in the model adapter")
        yield FinishEvent(reason="stop")  # pragma: no cover


def test_an_error_turn_has_no_text_as_documented() -> None:
    result = Runner.run_sync(Agent(fast=_BreaksMidStream()), "hi")
    assert result.outcome == "error" and result.error is not None
    assert result.error.type == "RuntimeError"
    assert result.text == ""


@pytest.mark.parametrize("text", [None, 42, ["hi"]])
def test_input_that_is_not_text_is_a_config_error(text: object) -> None:
    with pytest.raises(ConfigError, match="text"):
        Runner.run_sync(Agent(fast=ScriptedModel(["x"])), text)  # type: ignore[arg-type]


def test_bytearray_input_is_text() -> None:
    result = Runner.run_sync(Agent(fast=ScriptedModel(["x"])), bytearray(b"hi"))  # type: ignore[arg-type]
    assert result.outcome == "ok"


def test_the_budget_warning_follows_the_turns_own_budget() -> None:
    # The agent's default budget is 1.5 s; this turn has 300 ms and spends most of it.
    agent = Agent(fast=ScriptedModel(["one two three four five"], delay_s=0.05))
    events: list[TurnEvent] = []

    async def main() -> None:
        async for event in Runner.stream(agent, "count", budget_ms=300):
            events.append(event)

    anyio.run(main)
    warnings = [e for e in events if isinstance(e, BudgetEvent) and e.stage == "turn"]
    assert warnings, "no warning although the turn spent over 80 % of its budget"


@pytest.mark.parametrize(
    "make",
    [
        lambda: BudgetPolicy(fallback_reserve_ms=math.nan),
        lambda: BudgetPolicy(finish_reserve_ms=math.nan),
        lambda: BudgetPolicy(finish_reserve_ms=math.inf),
        lambda: CircuitBreaker(cooldown_s=math.nan),
        lambda: RetryPolicy(base_s=math.nan),
        lambda: RetryPolicy(max_s=math.inf),
        lambda: Timeouts(connect_s=math.inf),
    ],
)
def test_settings_that_are_not_finite_are_config_errors(make: object) -> None:
    with pytest.raises(ConfigError):
        make()  # type: ignore[operator]
