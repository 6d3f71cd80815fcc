"""`OpenAIModel` against a real HTTP server on loopback that injects faults."""

from __future__ import annotations

import time
from collections.abc import Iterator

import anyio
import pytest

from agentkit import Message, ModelResponse, ScriptedModel
from agentkit._agent import Agent
from agentkit._breaker import CircuitBreaker
from agentkit._errors import (
    ConfigError,
    ModelHTTPError,
    ModelProtocolError,
    ModelUnavailableError,
)
from agentkit._model import ModelEvent, StreamStatsEvent, TextDeltaEvent, ToolCallEvent, UsageEvent
from agentkit._openai_model import OpenAIModel, RetryPolicy, Timeouts
from agentkit._runner import Runner
from agentkit.testing import FaultPlan, FaultServer, FunctionModel, serve_faults
from router import Decision, RouteContext, StreamSignals
from tools import calculator


class AlwaysDeep:
    """A router that sends every turn to the deep tier."""

    def route(self, context: RouteContext) -> Decision:
        return Decision("deep", {}, ("test: deep",))

    def should_escalate(self, context: RouteContext, stats: StreamSignals) -> Decision | None:
        return None


@pytest.fixture(scope="module")
def server() -> Iterator[FaultServer]:
    with serve_faults() as running:
        yield running


@pytest.fixture()
def plan(server: FaultServer) -> Iterator[FaultPlan]:
    fresh = FaultPlan()
    for name in fresh.__dataclass_fields__:
        setattr(server.plan, name, getattr(fresh, name))
    yield server.plan
    server.plan.queue.clear()


def _model(server: FaultServer, **kwargs: object) -> OpenAIModel:
    return OpenAIModel("fault-model", base_url=server.base_url, **kwargs)  # type: ignore[arg-type]


def _stream(model: OpenAIModel, deadline: float | None = None) -> list[ModelEvent]:
    async def main() -> list[ModelEvent]:
        try:
            return [e async for e in model.stream([Message.user("hi")], deadline=deadline)]
        finally:
            await model.aclose()

    return anyio.run(main)


def test_streams_text_usage_and_sends_deadline_ms(server: FaultServer, plan: FaultPlan) -> None:
    events = _stream(_model(server), deadline=time.monotonic() + 5.0)
    text = "".join(e.text for e in events if isinstance(e, TextDeltaEvent))
    assert text == plan.reply
    assert any(isinstance(e, UsageEvent) and e.usage.completion_tokens == 6 for e in events)
    assert 0 < server.bodies[-1]["deadline_ms"] <= 5000
    assert server.bodies[-1]["stream"] is True


def test_streamed_tool_call_fragments_are_joined(server: FaultServer, plan: FaultPlan) -> None:
    plan.queue.append("tool")
    events = _stream(_model(server))
    (call,) = [e.call for e in events if isinstance(e, ToolCallEvent)]
    assert (call.id, call.function.name, call.function.arguments) == (
        "call_1",
        "calculator",
        '{"expression": "6*7"}',
    )


def test_retries_5xx_and_429_honouring_retry_after(server: FaultServer, plan: FaultPlan) -> None:
    plan.queue.extend(["500", "429"])
    plan.retry_after_s = 0.2
    before = server.requests
    start = time.monotonic()
    events = _stream(_model(server, retry=RetryPolicy(max_attempts=3, base_s=0.001)))
    assert "".join(e.text for e in events if isinstance(e, TextDeltaEvent)) == plan.reply
    assert server.requests - before == 3
    assert time.monotonic() - start >= 0.2  # waited at least Retry-After before the third try


def test_never_retries_past_the_deadline(server: FaultServer, plan: FaultPlan) -> None:
    plan.queue.extend(["429", "429"])
    plan.retry_after_s = 30.0
    before = server.requests
    with pytest.raises(ModelHTTPError) as info:
        _stream(_model(server), deadline=time.monotonic() + 0.5)
    assert info.value.status == 429 and info.value.retry_after_s == 30.0
    assert server.requests - before == 1


@pytest.mark.parametrize(
    ("fault", "error"), [("badjson", ModelProtocolError), ("html", ModelProtocolError)]
)
def test_malformed_responses_raise_protocol_errors(
    server: FaultServer, plan: FaultPlan, fault: str, error: type[Exception]
) -> None:
    plan.queue.append(fault)
    model = _model(server)

    async def main() -> None:
        await model.complete([Message.user("hi")])

    with pytest.raises(error):
        anyio.run(main)


def test_breaker_opens_then_half_opens(server: FaultServer, plan: FaultPlan) -> None:
    now = [0.0]
    breaker = CircuitBreaker(failure_threshold=2, cooldown_s=10.0, clock=lambda: now[0])
    model = _model(server, breaker=breaker, retry=RetryPolicy(max_attempts=1))
    plan.queue.extend(["500", "503"])
    for _ in range(2):
        with pytest.raises(ModelHTTPError):
            _stream(model)
    assert breaker.state == "open"
    before = server.requests
    with pytest.raises(ModelUnavailableError, match="circuit breaker open"):
        _stream(model)
    assert server.requests == before  # refused without a request
    now[0] = 10.5
    assert str(breaker.state) == "half_open"
    events = _stream(model)  # the probe succeeds
    assert any(isinstance(e, TextDeltaEvent) for e in events) and str(breaker.state) == "closed"


def test_breaker_reopens_when_the_probe_fails() -> None:
    now = [0.0]
    breaker = CircuitBreaker(failure_threshold=1, cooldown_s=5.0, clock=lambda: now[0])
    breaker.record_failure()
    now[0] = 6.0
    assert breaker.allow() and not breaker.allow()  # a single probe
    breaker.record_failure()
    assert breaker.state == "open"


def test_config_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTKIT_DEEP_BASE_URL", "http://127.0.0.1:9/v1/")
    monkeypatch.setenv("AGENTKIT_DEEP_MODEL", "env-model")
    monkeypatch.setenv("AGENTKIT_DEEP_API_KEY", "sk-test")
    model = OpenAIModel()
    assert (model.name, model.base_url) == ("env-model", "http://127.0.0.1:9/v1")
    monkeypatch.delenv("AGENTKIT_DEEP_MODEL")
    with pytest.raises(ConfigError):
        OpenAIModel()


def test_connection_refused_degrades_the_turn() -> None:
    deep = OpenAIModel("m", base_url="http://127.0.0.1:9/v1", retry=RetryPolicy(max_attempts=2))
    agent = Agent(fast=ScriptedModel(["Fast instead."]), deep=deep, router=AlwaysDeep())
    result = Runner.run_sync(agent, "hi")
    assert (result.outcome, result.text) == ("degraded", "Fast instead.")
    assert result.hops[0].outcome == "failed"


@pytest.mark.parametrize("fault", ["badjson", "html", "500"])
def test_bad_deep_responses_are_typed_outcomes(
    server: FaultServer, plan: FaultPlan, fault: str
) -> None:
    plan.queue.extend([fault] * 3)
    deep = _model(server, retry=RetryPolicy(max_attempts=3, base_s=0.001))
    agent = Agent(fast=ScriptedModel(["Fast."]), deep=deep, router=AlwaysDeep())
    result = Runner.run_sync(agent, "hi")
    assert (result.outcome, result.text, result.tier) == ("degraded", "Fast.", "fast")
    assert result.error is None


def test_broken_stream_is_finished_by_the_fallback(server: FaultServer, plan: FaultPlan) -> None:
    plan.reply = "Alpha beta gamma delta epsilon."
    plan.queue.append("break")
    plan.break_after = 2
    fast = FunctionModel(lambda call: "Alpha beta gamma delta epsilon.", name="fast")
    agent = Agent(fast=fast, deep=_model(server), router=AlwaysDeep())
    result = Runner.run_sync(agent, "greek letters")
    assert result.outcome == "degraded" and result.tier == "fast"
    assert result.text == "Alpha beta gamma delta epsilon."
    assert fast.calls[0].messages[-2] == Message.assistant("Alpha beta")
    assert [(h.tier, h.outcome) for h in result.hops] == [("deep", "failed"), ("fast", "done")]


def test_stalling_deep_endpoint_is_cut_at_its_slice(server: FaultServer, plan: FaultPlan) -> None:
    plan.queue.append("stall")
    plan.stall_s = 10.0
    fast = ScriptedModel(["Quick answer."])
    agent = Agent(fast=fast, deep=_model(server), router=AlwaysDeep(), budget_ms=800)
    result = Runner.run_sync(agent, "hi")
    assert (result.outcome, result.text) == ("degraded", "Quick answer.")
    assert result.elapsed_ms < result.budget_ms + 700


def test_deep_tool_round_trip_over_http(server: FaultServer, plan: FaultPlan) -> None:
    plan.queue.extend(["tool", "ok"])
    plan.reply = "It is 42."
    deep = _model(server)
    agent = Agent(fast=ScriptedModel([]), deep=deep, router=AlwaysDeep(), tools=[calculator])
    result = Runner.run_sync(agent, "six times seven")
    assert (result.outcome, result.text) == ("ok", "It is 42.")
    sent = server.bodies[-1]["messages"]
    assert sent[-1] == {"role": "tool", "content": "42", "tool_call_id": "call_1"}
    assert server.bodies[-1]["tools"][0]["function"]["name"] == "calculator"


def test_reads_the_speculative_extension(server: FaultServer, plan: FaultPlan) -> None:
    plan.speculative = {"mode": "ngram", "drafted": 10, "accepted": 7, "acceptance_rate": 0.7}
    events = _stream(_model(server))
    running, final = [e for e in events if isinstance(e, StreamStatsEvent)]
    assert not running.final and final.final
    assert final.stats.mode == "ngram" and final.stats.accepted == 7
    model = _model(server)

    async def main() -> ModelResponse:
        return await model.complete([Message.user("hi")])

    response = anyio.run(main)
    assert response.speculative is not None and response.speculative.acceptance_rate == 0.7


def test_complete_parses_tool_calls(server: FaultServer, plan: FaultPlan) -> None:
    plan.queue.append("tool")
    model = _model(server)

    async def main() -> ModelResponse:
        return await model.complete([Message.user("hi")], tools=[calculator.openai_schema()])

    response = anyio.run(main)
    assert response.finish_reason == "tool_calls"
    assert response.tool_calls[0].function.name == "calculator"
    assert server.bodies[-1]["stream"] is False


def test_first_token_timeout_is_retried(server: FaultServer, plan: FaultPlan) -> None:
    plan.queue.extend(["stall", "ok"])
    plan.stall_s = 10.0
    before = server.requests
    model = _model(
        server,
        timeouts=Timeouts(first_token_s=0.3),
        retry=RetryPolicy(max_attempts=2, base_s=0.001),
    )
    events = _stream(model, deadline=time.monotonic() + 5.0)
    assert "".join(e.text for e in events if isinstance(e, TextDeltaEvent)) == plan.reply
    assert server.requests - before == 2
