"""Warm start: no model loads inside a turn's budget; `Runner.start` warms every part."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
import pytest

from agentkit import FunctionModel, Message, SamplingSettings, ScriptedModel
from agentkit._agent import Agent
from agentkit._engine_model import EngineModel
from agentkit._errors import BackendError
from agentkit._messages import ToolSchema
from agentkit._runner import Runner
from agentkit._sessions import InMemoryStore
from agentkit._warm import Warmup
from router import Decision, RouteContext, StreamSignals
from tools import KnowledgeBase, Tool, calculator
from tools._kb import Passage


class LoadingModel(FunctionModel):
    """A model that, like `EngineModel()`, is still loading when the turn starts."""

    def __init__(self, load_s: float) -> None:
        super().__init__(lambda call: "ready")
        self.loaded_at = time.monotonic() + load_s

    async def ready(self) -> None:
        await anyio.sleep(max(0.0, self.loaded_at - time.monotonic()))

    async def complete(self, *args: Any, **kwargs: Any) -> Any:
        assert time.monotonic() >= self.loaded_at, "called before it finished loading"
        return await super().complete(*args, **kwargs)


def test_a_turn_waits_for_a_loading_model_outside_its_budget() -> None:
    agent = Agent(fast=LoadingModel(load_s=0.3), budget_ms=100)
    first = Runner.run_sync(agent, "hi")
    assert (first.outcome, first.text) == ("ok", "ready")
    assert first.warmup_ms >= 250  # waited for the load ...
    assert first.elapsed_ms < 100  # ... and the budget started after it
    second = Runner.run_sync(agent, "again")
    assert second.outcome == "ok" and second.warmup_ms < 20


class WarmableModel(ScriptedModel):
    """Records what `Runner.start` primes it with."""

    def __init__(self) -> None:
        super().__init__(["Hello."])
        self.primed: list[tuple[list[Message], list[ToolSchema], SamplingSettings | None]] = []

    async def warm(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSchema] = (),
        settings: SamplingSettings | None = None,
    ) -> None:
        self.primed.append((list(messages), list(tools), settings))


class CountingRouter:
    def __init__(self) -> None:
        self.routed: list[str] = []

    def route(self, context: RouteContext) -> Decision:
        self.routed.append(context.message)
        return Decision("fast", {}, ("routine",))

    def should_escalate(self, context: RouteContext, stats: StreamSignals) -> Decision | None:
        return None


class CountingStore(InMemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.loads = 0

    async def load(self, session_id: str, *, max_chars: int) -> list[Message]:
        self.loads += 1
        return await super().load(session_id, max_chars=max_chars)


def test_start_warms_every_part_of_the_agent() -> None:
    kb = KnowledgeBase([Passage(source="a.md", text="Refunds take 5 days.")])
    warmed: list[str] = []
    kb_tool = kb.as_tool()
    kb_warm = kb_tool.warm
    assert kb_warm is not None  # the knowledge base's tool carries its warm-up

    def counted_warm() -> None:
        warmed.append("kb")
        kb_warm()

    kb_tool.warm = counted_warm
    fast, router, store = WarmableModel(), CountingRouter(), CountingStore()
    settings = SamplingSettings(max_tokens=7)
    agent = Agent(
        instructions="Be brief.",
        tools=[kb_tool, calculator],
        fast=fast,
        router=router,
        store=store,
        settings=settings,
    )
    report = Runner.start_sync(agent)
    assert isinstance(report, Warmup)
    assert list(report.parts_ms) == ["fast", "deep", "router", "safety", "tool:kb_search", "store"]
    [(messages, tools, primed_settings)] = fast.primed
    assert messages[0] == Message.system("Be brief.") and messages[-1].role == "user"
    assert [t["function"]["name"] for t in tools] == ["kb_search", "calculator"]
    assert primed_settings == settings
    assert len(router.routed) == 2 and warmed == ["kb"] and store.loads == 1
    assert fast.remaining == 1  # warming made no model call through the turn path


def test_start_propagates_a_model_that_cannot_load(tmp_path: Path) -> None:
    pytest.importorskip("engine")
    model = EngineModel(path=str(tmp_path / "missing.gguf"), lazy=True)
    with pytest.raises(BackendError, match="engine"):
        Runner.start_sync(Agent(fast=model))


def test_started_closes_the_models_on_exit() -> None:
    class Closing(ScriptedModel):
        closed = 0

        async def aclose(self) -> None:
            self.closed += 1

    fast = Closing(["Hi."])

    async def main() -> str:
        async with Runner.started(Agent(fast=fast)) as report:
            assert "fast" in report.parts_ms
            return (await Runner.run(Agent(fast=fast), "hello")).outcome

    assert anyio.run(main) == "ok"
    assert fast.closed == 1


def test_a_lazy_engine_model_starts_no_load() -> None:
    model = EngineModel(lazy=True)
    assert model.loading is False
    anyio.run(model.ready)  # nothing to wait for


def test_a_failed_background_load_surfaces_in_the_turn_then_loads_again(tmp_path: Path) -> None:
    pytest.importorskip("engine")
    model = EngineModel(path=str(tmp_path / "missing.gguf"))
    anyio.run(model.ready)  # never raises
    agent = Agent(fast=model)
    first = Runner.run_sync(agent, "hi")
    assert first.outcome == "error" and first.error is not None
    assert model.loading is False  # the failed load is dropped: the next use loads again
    second = Runner.run_sync(agent, "hi")
    assert second.outcome == "error" and second.error is not None
    assert second.error.type == first.error.type


@pytest.fixture(scope="module")
def engine_available() -> None:
    pytest.importorskip("engine")


def test_first_turn_of_a_fresh_engine_model_is_ok_in_a_budget_far_below_its_load(
    engine_available: None,
) -> None:
    """The README's case: build the model, run a turn at once. It loads outside the budget."""
    model = EngineModel(max_slots=1, max_seq_len=512)  # starts loading now, in the background
    agent = Agent(
        instructions="Be brief.",
        fast=model,
        budget_ms=400,
        settings=SamplingSettings(max_tokens=4),
    )
    result = Runner.run_sync(agent, "Say hello.")
    assert result.outcome == "ok", result.reasons
    assert result.text
    assert result.warmup_ms > result.budget_ms  # loading took longer than the whole budget
    assert result.elapsed_ms < result.budget_ms


def test_tools_carry_their_warm_hook() -> None:
    kb = KnowledgeBase([Passage(source="a.md", text="x")])
    assert kb.as_tool().warm is not None
    assert Tool.from_function(lambda: 1, name="one").warm is None


def test_warm_primes_an_engine_with_the_agents_prompt(engine_available: None) -> None:
    model = EngineModel(max_slots=1, max_seq_len=512, lazy=True)
    agent = Agent(instructions="Be brief.", tools=[calculator], fast=model)
    report = Runner.start_sync(agent)
    assert report.parts_ms["fast"] > 0 and model.loading is False
    result = Runner.run_sync(agent, "Say hello.", budget_ms=5000)
    assert result.outcome == "ok" and result.warmup_ms < 20


class FakeSource:
    """A tool source (as an MCP server is): its tools are known only once listed."""

    name = "fake"

    def __init__(self) -> None:
        self.listed = 0

    async def list_tools(self) -> list[Tool]:
        self.listed += 1

        def echo(text: str) -> str:
            """Say it back."""
            return text

        built = Tool.from_function(echo)
        built.source = self  # type: ignore[attr-defined]
        return [built]


def test_start_lists_tool_sources_before_priming_the_models() -> None:
    from agentkit._tool_sources import ToolSource

    source, fast = FakeSource(), WarmableModel()
    assert isinstance(source, ToolSource)
    agent = Agent(fast=fast, tools=[calculator], mcp_servers=[source])
    report = Runner.start_sync(agent)
    assert list(report.parts_ms)[:2] == ["tool_sources", "fast"]
    assert source.listed == 1 and "echo" in agent.registry
    [(_, tools, _)] = fast.primed
    assert [t["function"]["name"] for t in tools] == ["calculator", "echo"]
