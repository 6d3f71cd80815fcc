"""The circuit breaker always settles: every call through it ends as success, failure or release.

`OpenAIModel` runs over an ``httpx.MockTransport`` here, so each test says
exactly what the endpoint answers (a 400, a 429, a stall, a stream that the
consumer closes early) and checks what the breaker concluded.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import aclosing

import anyio
import httpx
import pytest

from agentkit import Message
from agentkit._breaker import CircuitBreaker
from agentkit._errors import ModelHTTPError, ModelProtocolError, ModelUnavailableError
from agentkit._model import FinishEvent, ModelEvent, TextDeltaEvent
from agentkit._openai_model import OpenAIModel, RetryPolicy, Timeouts

Handler = Callable[[httpx.Request], Coroutine[None, None, httpx.Response]]


class Clock:
    """A settable clock for the breaker."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _sse(*chunks: object, done: bool = True, stall_s: float = 0.0) -> httpx.Response:
    async def body() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield f"data: {json.dumps(chunk)}\n\n".encode()
        if stall_s:
            await anyio.sleep(stall_s)
        if done:
            yield b"data: [DONE]\n\n"

    headers = {"content-type": "text/event-stream"}
    return httpx.Response(200, headers=headers, content=body())


def _delta(text: str, finish: str | None = None) -> dict[str, object]:
    return {"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": finish}]}


def _model(handler: Handler, breaker: CircuitBreaker, **kwargs: object) -> OpenAIModel:
    return OpenAIModel(
        "mock",
        base_url="http://127.0.0.1:9/v1",
        breaker=breaker,
        retry=RetryPolicy(max_attempts=1),
        transport=httpx.MockTransport(handler),
        **kwargs,  # type: ignore[arg-type]
    )


def _run(model: OpenAIModel, deadline: float | None = None) -> list[ModelEvent]:
    async def main() -> list[ModelEvent]:
        try:
            return [e async for e in model.stream([Message.user("hi")], deadline=deadline)]
        finally:
            await model.aclose()

    return anyio.run(main)


def _half_open(threshold: int = 1) -> tuple[CircuitBreaker, Clock]:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=threshold, cooldown_s=5.0, clock=clock)
    for _ in range(threshold):
        breaker.record_failure()
    clock.now = 6.0
    assert breaker.state == "half_open"
    return breaker, clock


def _answer(status: int, body: str = '{"error": {"message": "no"}}') -> Handler:
    async def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, text=body, headers={"content-type": "application/json"})

    return handler


@pytest.mark.parametrize("status", [400, 401, 404, 422])
def test_a_probe_that_gets_a_4xx_closes_the_breaker(status: int) -> None:
    breaker, _ = _half_open()
    with pytest.raises(ModelHTTPError):
        _run(_model(_answer(status), breaker))
    assert breaker.state == "closed"  # the server is up; it is the request that was wrong


@pytest.mark.parametrize("status", [429, 500, 503])
def test_a_probe_that_gets_a_429_or_5xx_reopens_the_breaker(status: int) -> None:
    breaker, clock = _half_open()
    with pytest.raises(ModelHTTPError):
        _run(_model(_answer(status), breaker))
    assert breaker.state == "open"
    clock.now += 5.0
    assert breaker.allow()  # and probes again after the next cool-down


def test_a_429_while_closed_is_no_failure() -> None:
    breaker = CircuitBreaker(failure_threshold=1)
    for _ in range(3):
        with pytest.raises(ModelHTTPError):
            _run(_model(_answer(429), breaker))
    assert breaker.state == "closed"


def test_a_probe_stream_closed_early_settles_the_breaker() -> None:
    breaker, _ = _half_open()

    async def handler(request: httpx.Request) -> httpx.Response:
        return _sse(_delta("Hello"), _delta(" there"), done=False, stall_s=30.0)

    model = _model(handler, breaker)

    async def main() -> str:
        stream = model.stream([Message.user("hi")])
        async with aclosing(stream) as events:  # type: ignore[type-var]
            async for event in events:
                if isinstance(event, TextDeltaEvent):
                    return event.text  # the consumer stops reading (escalation, refusal)
        return ""

    assert anyio.run(main) == "Hello"
    assert breaker.state == "closed"  # the probe answered: the backend works


def _stall(started: list[float]) -> Handler:
    async def handler(request: httpx.Request) -> httpx.Response:
        started.append(time.monotonic())
        await anyio.sleep(30.0)
        return _sse(_delta("late"))

    return handler


def test_the_callers_cancellation_is_no_failure_and_frees_the_probe() -> None:
    breaker, _ = _half_open()
    started: list[float] = []
    model = _model(_stall(started), breaker)

    async def main() -> None:
        with anyio.move_on_after(0.05):
            await model.complete([Message.user("hi")])

    anyio.run(main)
    assert started and breaker.state == "half_open"
    assert breaker.allow()  # the probe slot is free again: not stuck half-open


def test_the_callers_deadline_is_no_failure() -> None:
    breaker = CircuitBreaker(failure_threshold=1)
    started: list[float] = []
    model = _model(_stall(started), breaker)
    for _ in range(2):
        events = _run(model, deadline=time.monotonic() + 0.05)
        assert isinstance(events[-1], FinishEvent) and events[-1].reason == "deadline"
    assert len(started) == 2 and breaker.state == "closed"


def test_a_probe_cut_by_the_callers_deadline_mid_stream_frees_the_slot() -> None:
    breaker, _ = _half_open()

    async def handler(request: httpx.Request) -> httpx.Response:
        return _sse(done=False, stall_s=30.0)  # headers, then nothing

    events = _run(_model(handler, breaker), deadline=time.monotonic() + 0.1)
    assert isinstance(events[-1], FinishEvent) and events[-1].reason == "deadline"
    assert breaker.state == "half_open"  # no verdict: not closed by a silent backend
    assert breaker.allow()


def test_a_first_token_timeout_is_a_failure() -> None:
    breaker = CircuitBreaker(failure_threshold=1)

    async def handler(request: httpx.Request) -> httpx.Response:
        return _sse(done=False, stall_s=30.0)

    model = _model(handler, breaker, timeouts=Timeouts(first_token_s=0.05))
    with pytest.raises(ModelUnavailableError, match="first token"):
        _run(model, deadline=time.monotonic() + 5.0)
    assert breaker.state == "open"


def test_a_bad_chunk_on_a_probe_reopens_the_breaker() -> None:
    breaker, _ = _half_open()

    async def handler(request: httpx.Request) -> httpx.Response:
        body = b'data: {"choices": [{"delta": {"content": "hi"}}]}\n\ndata: {"choices": [\n\n'
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    with pytest.raises(ModelProtocolError):
        _run(_model(handler, breaker))
    assert breaker.state == "open"


def test_a_stale_probe_does_not_free_a_newer_one() -> None:
    breaker, clock = _half_open()
    first = breaker.acquire()
    assert first is not None and first.probe
    breaker.record_failure()  # another call failed meanwhile: open again
    clock.now += 6.0
    second = breaker.acquire()
    assert second is not None and second.probe != first.probe
    first.release()
    assert not breaker.allow()  # the second probe still holds the slot
    second.release()
    assert breaker.allow()


def test_a_call_settles_once() -> None:
    breaker = CircuitBreaker(failure_threshold=1)
    call = breaker.acquire()
    assert call is not None
    call.success()
    call.failure()  # ignored: the first verdict counts
    assert breaker.state == "closed"
