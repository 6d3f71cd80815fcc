"""FallbackModel: ordered fallbacks inside one deadline, with the SDK's doubles at the seam.

The same behaviour against real endpoints (two fault-injecting servers) is in
test_fallback_servers.py.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence

import anyio
import pytest

from agentkit import Agent, FallbackModel, Message, Model, Runner, ScriptedModel
from agentkit._breaker import CircuitBreaker
from agentkit._fallback import recording_attempts
from agentkit._model import FinishEvent, ModelEvent, TextDeltaEvent
from agentkit._openai_model import OpenAIModel
from agentkit.errors import ConfigError, ModelHTTPError, ModelUnavailableError
from agentkit.testing import FunctionModel, ModelCall
from router import Decision, RouteContext, StreamSignals

HI = [Message.user("hi")]


class _Deep:
    """A router that sends every turn to the deep tier."""

    def route(self, context: RouteContext) -> Decision:
        return Decision("deep", {}, ("test: deep",))

    def should_escalate(self, context: RouteContext, stats: StreamSignals) -> Decision | None:
        return None


class _BreaksAfter:
    """A stream that yields ``words`` and then breaks, as a dropped connection does."""

    def __init__(self, words: Sequence[str], name: str = "breaks") -> None:
        self.words, self._name, self.calls = list(words), name, 0

    @property
    def name(self) -> str:
        return self._name

    async def complete(self, messages: Sequence[Message], **_: object) -> object:
        raise NotImplementedError

    async def stream(self, messages: Sequence[Message], **_: object) -> AsyncIterator[ModelEvent]:
        self.calls += 1
        for word in self.words:
            yield TextDeltaEvent(text=word)
        raise ModelUnavailableError("stream broke mid-way", backend=self.name)


async def _collect(model: Model, deadline: float | None = None) -> list[ModelEvent]:
    return [e async for e in model.stream(HI, deadline=deadline)]


def test_complete_falls_over_in_order_and_names_the_model_that_answered() -> None:
    a = ScriptedModel([ModelHTTPError(503, "down")], name="a")
    b = ScriptedModel([ModelUnavailableError("refused")], name="b")
    c = ScriptedModel(["From c."], name="c")
    model = FallbackModel([a, b, c])

    async def main() -> object:
        with recording_attempts() as attempts:
            reply = await model.complete(HI)
        return reply, attempts

    reply, attempts = anyio.run(main)
    assert (reply.text, reply.model) == ("From c.", "c")  # type: ignore[attr-defined]
    assert [(x.model, x.outcome) for x in attempts] == [
        ("a", "failed"),
        ("b", "failed"),
        ("c", "done"),
    ]
    assert attempts[0].error is not None and attempts[0].error.type == "ModelHTTPError"
    assert model.name == "fallback(a, b, c)"


def test_every_model_failing_is_one_typed_error_saying_why_each_failed() -> None:
    model = FallbackModel(
        [
            ScriptedModel([ModelHTTPError(500, "boom")], name="a"),
            ScriptedModel([ModelHTTPError(429, "slow down")], name="b"),
        ]
    )
    with pytest.raises(ModelUnavailableError) as caught:
        anyio.run(lambda: model.complete(HI))
    assert "a: HTTP 500" in str(caught.value) and "b: HTTP 429" in str(caught.value)
    assert isinstance(caught.value.__cause__, ModelHTTPError)


def test_a_bug_is_not_a_reason_to_fall_over() -> None:
    b = ScriptedModel(["never"], name="b")
    model = FallbackModel([ScriptedModel([ValueError("bug")], name="a"), b])
    with pytest.raises(ValueError, match="bug"):
        anyio.run(lambda: model.complete(HI))
    assert b.remaining == 1


def test_stream_falls_over_before_the_first_token() -> None:
    a = ScriptedModel([ModelHTTPError(502, "bad gateway")], name="a")
    model = FallbackModel([a, ScriptedModel(["From b."], name="b")])
    events = anyio.run(_collect, model)
    text = "".join(e.text for e in events if isinstance(e, TextDeltaEvent))
    assert text == "From b."
    assert isinstance(events[-1], FinishEvent) and events[-1].reason == "stop"


def test_stream_after_the_first_token_keeps_the_text_and_reports_the_failure() -> None:
    a = _BreaksAfter(["Half ", "an "])
    b = ScriptedModel(["never sent"], name="b")
    model = FallbackModel([a, b])
    seen: list[str] = []

    async def main() -> None:
        async for event in model.stream(HI):
            if isinstance(event, TextDeltaEvent):
                seen.append(event.text)

    with pytest.raises(ModelUnavailableError, match="broke mid-way"):
        anyio.run(main)
    assert seen == ["Half ", "an "]  # sent once, never answered again by b
    assert b.remaining == 1 and not b.calls


def test_open_breaker_is_skipped_without_a_request() -> None:
    breaker = CircuitBreaker(failure_threshold=1, cooldown_s=60.0)
    breaker.record_failure()
    # Port 9 (discard) on loopback: a request would fail or hang; none is made.
    down = OpenAIModel("down", base_url="http://127.0.0.1:9/v1", breaker=breaker)
    model = FallbackModel([down, ScriptedModel(["Up."], name="up")])

    async def main() -> object:
        with recording_attempts() as attempts:
            start = time.perf_counter()
            reply = await model.complete(HI)
            return reply, attempts, time.perf_counter() - start

    reply, attempts, took = anyio.run(main)
    assert reply.text == "Up."  # type: ignore[attr-defined]
    assert attempts[0].outcome == "skipped" and attempts[0].error is not None
    assert attempts[0].error.message == "circuit breaker open"
    assert took < 0.5


def test_a_later_model_gets_what_is_left_of_the_one_deadline() -> None:
    deadlines: list[float | None] = []

    async def slow_failure(call: ModelCall) -> str:
        deadlines.append(call.deadline)
        await anyio.sleep(0.1)
        raise ModelHTTPError(503, "down")

    def answer(call: ModelCall) -> str:
        deadlines.append(call.deadline)
        return "ok"

    model = FallbackModel([FunctionModel(slow_failure, name="a"), FunctionModel(answer)])
    deadline = time.monotonic() + 5.0
    reply = anyio.run(lambda: model.complete(HI, deadline=deadline))
    assert reply.text == "ok"
    assert deadlines == [deadline, deadline]


def test_no_time_left_skips_the_rest_and_no_time_at_all_is_a_deadline_finish() -> None:
    async def until_the_deadline(call: ModelCall) -> str:
        assert call.deadline is not None
        await anyio.sleep(max(0.0, call.deadline - time.monotonic()) + 0.01)
        raise ModelUnavailableError("no first token in time")

    b = ScriptedModel(["never"], name="b")
    model = FallbackModel([FunctionModel(until_the_deadline, name="a"), b])

    async def main() -> object:
        with recording_attempts() as attempts:
            with pytest.raises(ModelUnavailableError, match="b: no time left"):
                await model.complete(HI, deadline=time.monotonic() + 0.05)
            return attempts

    attempts = anyio.run(main)
    assert [(a.model, a.outcome) for a in attempts] == [("a", "failed"), ("b", "skipped")]
    assert b.remaining == 1
    # Past the deadline before any model could try: the Model contract's deadline finish.
    late = time.monotonic() - 1.0
    assert anyio.run(lambda: model.complete(HI, deadline=late)).finish_reason == "deadline"
    events = anyio.run(_collect, model, late)
    assert events == [FinishEvent(reason="deadline")]


def test_fallback_model_refuses_what_is_not_a_list_of_models() -> None:
    with pytest.raises(ConfigError):
        FallbackModel([])
    with pytest.raises(ConfigError):
        FallbackModel([ScriptedModel([]), "gpt-4o"])  # type: ignore[list-item]
    with pytest.raises(ConfigError):
        Agent(deep=[])
    with pytest.raises(ConfigError):
        Agent(deep="gpt-4o")  # type: ignore[arg-type]


def test_agent_deep_list_is_a_fallback_model_and_its_hop_names_who_answered() -> None:
    a = ScriptedModel([ModelHTTPError(503, "down")], name="a")
    agent = Agent(deep=[a, ScriptedModel(["Deep answer."], name="b")], router=_Deep())
    assert isinstance(agent.deep, FallbackModel)
    result = Runner.run_sync(agent, "hi")
    assert (result.text, result.outcome, result.tier) == ("Deep answer.", "ok", "deep")
    (hop,) = result.hops
    assert (hop.tier, hop.model, hop.outcome) == ("deep", "b", "done")
    assert [(x.model, x.outcome) for x in hop.attempts] == [("a", "failed"), ("b", "done")]
    assert hop.attempts[0].error is not None and "HTTP 503" in hop.attempts[0].error.message
    assert result.model_dump()["hops"][0]["attempts"][1]["model"] == "b"


def test_a_deep_stream_broken_after_text_continues_on_fast_without_repeating() -> None:
    fast = ScriptedModel(["and the rest."], name="fast")
    deep_b = ScriptedModel(["never"], name="b")
    agent = Agent(
        fast=fast, deep=[_BreaksAfter(["The ", "start "], name="a"), deep_b], router=_Deep()
    )
    result = Runner.run_sync(agent, "hi")
    assert result.outcome == "degraded"
    assert result.text == "The start and the rest."
    assert [(h.tier, h.model, h.outcome) for h in result.hops] == [
        ("deep", "fallback(a, b)", "failed"),
        ("fast", "fast", "done"),
    ]
    assert [(x.model, x.outcome) for x in result.hops[0].attempts] == [("a", "failed")]
    assert not deep_b.calls  # the failure was reported, not answered again by b


def test_without_fallbacks_hops_have_no_attempts() -> None:
    result = Runner.run_sync(Agent(fast=ScriptedModel(["Hi."])), "hi")
    assert result.hops[0].attempts == ()


def test_fallback_model_is_public() -> None:
    import agentkit

    assert "FallbackModel" in agentkit.__all__ and agentkit.FallbackModel is FallbackModel
    assert isinstance(FallbackModel([ScriptedModel([])]), Model)  # it is a Model itself
