"""Overload, disconnects and deadlines: the server frees everything and keeps serving."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence

import httpx
import pytest
from _server_doubles import TrackedModel, wait_until
from starlette.applications import Starlette

from agentkit import FunctionModel, Message, SamplingSettings
from agentkit._messages import ToolSchema
from agentkit._model import ModelEvent, ModelResponse, TextDeltaEvent
from agentkit.server import ServerConfig, ServerThread, create_app, server_state
from agentkit.testing import ModelCall

Serve = Callable[[Starlette], ServerThread]
CHAT = "/v1/chat/completions"
WORDS = " ".join(f"w{i}" for i in range(200))


def _body(model: str, **extra: object) -> dict[str, object]:
    return {"model": model, "messages": [{"role": "user", "content": "go"}], **extra}


def test_disconnect_mid_stream_closes_the_backend_stream(serve: Serve) -> None:
    model = TrackedModel(FunctionModel(lambda call: WORDS, name="slow", delay_s=0.02))
    app = create_app(model)
    srv = serve(app)
    baseline = srv.task_count()
    with (
        httpx.Client() as client,
        client.stream("POST", srv.url + CHAT, json=_body("slow", stream=True)) as resp,
    ):
        assert resp.status_code == 200
        lines = resp.iter_lines()
        got = [line for line, _ in zip(lines, range(6), strict=False) if line]
        assert got[0].startswith("data: ")
    # 200 words take ~4 s; the stream must be closed long before that.
    assert wait_until(lambda: model.closed == 1, timeout_s=2.0)
    assert model.open == 0
    assert wait_until(lambda: server_state(app).admission.in_flight == 0)
    assert wait_until(lambda: srv.task_count() <= baseline)
    again = httpx.post(srv.url + CHAT, json=_body("slow", deadline_ms=60))  # still serving
    assert again.json()["choices"][0]["finish_reason"] == "deadline"


def test_ten_times_the_queue_gets_429s_and_the_rest_is_served(serve: Serve) -> None:
    model = TrackedModel(FunctionModel(lambda call: "a b c", name="busy", delay_s=0.1))
    app = create_app(model, config=ServerConfig(max_queue=3, retry_after_s=2))
    srv = serve(app)
    baseline = srv.task_count()

    async def flood() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=30) as client:
            stream = [
                client.post(srv.url + CHAT, json=_body("busy", stream=i % 2 == 0))
                for i in range(30)
            ]
            return await asyncio.gather(*stream)

    responses = asyncio.run(flood())
    ok = [r for r in responses if r.status_code == 200]
    busy = [r for r in responses if r.status_code == 429]
    assert len(ok) + len(busy) == 30
    assert len(ok) >= 3 and len(busy) >= 1
    for r in busy:
        assert r.headers["retry-after"] == "2"
        assert r.json()["error"]["type"] == "rate_limit_error"
    for r in ok:
        if r.headers["content-type"].startswith("application/json"):
            assert r.json()["choices"][0]["message"]["content"] == "a b c"
        else:
            assert r.text.rstrip().endswith("data: [DONE]") and '"content":" c"' in r.text
    assert wait_until(lambda: server_state(app).admission.in_flight == 0)
    assert model.open == 0 and model.closed == len(ok)
    assert wait_until(lambda: srv.task_count() <= baseline)
    assert httpx.post(srv.url + CHAT, json=_body("busy")).status_code == 200


def test_deadline_cuts_generation_with_finish_reason_deadline(serve: Serve) -> None:
    model = FunctionModel(lambda call: WORDS, name="slow", delay_s=0.02)
    srv = serve(create_app(model))
    resp = httpx.post(srv.url + CHAT, json=_body("slow", deadline_ms=150))
    choice = resp.json()["choices"][0]
    assert choice["finish_reason"] == "deadline"
    assert WORDS.startswith(choice["message"]["content"]) and len(
        choice["message"]["content"]
    ) < len(WORDS)
    deadline = model.calls[0].deadline
    assert deadline is not None and deadline <= time.monotonic()


class _DeafModel:
    """Ignores its deadline: one delta, then silence. The server must cut it."""

    name = "deaf"

    def __init__(self) -> None:
        self.closed = False

    async def complete(self, messages: Sequence[Message], **kw: object) -> ModelResponse:
        raise NotImplementedError

    async def stream(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSchema] = (),
        settings: SamplingSettings | None = None,
        deadline: float | None = None,
    ) -> AsyncIterator[ModelEvent]:
        try:
            yield TextDeltaEvent(text="so far")
            await asyncio.sleep(60)
        finally:
            self.closed = True


def test_server_enforces_deadline_on_a_backend_that_ignores_it(serve: Serve) -> None:
    model = _DeafModel()
    app = create_app(model, config=ServerConfig(deadline_grace_s=0.0))
    srv = serve(app)
    resp = httpx.post(srv.url + CHAT, json=_body("deaf", deadline_ms=100), timeout=10)
    choice = resp.json()["choices"][0]
    assert (choice["finish_reason"], choice["message"]["content"]) == ("deadline", "so far")
    assert model.closed
    lines = []
    with httpx.stream(
        "POST", srv.url + CHAT, json=_body("deaf", deadline_ms=100, stream=True)
    ) as r:
        lines = [line for line in r.iter_lines() if line]
    assert '"finish_reason":"deadline"' in lines[-2] and lines[-1] == "data: [DONE]"
    assert wait_until(lambda: server_state(app).admission.in_flight == 0)


@pytest.mark.parametrize("stream", [False, True])
def test_disconnect_before_first_token_cancels_the_generation(serve: Serve, stream: bool) -> None:
    async def never(call: ModelCall) -> str:
        await asyncio.sleep(60)
        return "too late"

    model = TrackedModel(FunctionModel(never, name="stuck"))
    app = create_app(model)
    srv = serve(app)
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(srv.url + CHAT, json=_body("stuck", stream=stream), timeout=0.3)
    assert wait_until(lambda: model.closed == 1, timeout_s=5.0)
    assert wait_until(lambda: server_state(app).admission.in_flight == 0)
    assert model.open == 0


def test_backend_whose_stream_call_raises_frees_its_place(serve: Serve) -> None:
    class Broken:
        name = "broken"

        def stream(self, *args: object, **kwargs: object) -> AsyncIterator[ModelEvent]:
            raise RuntimeError("not even a generator")

    app = create_app(Broken(), config=ServerConfig(max_queue=1))  # type: ignore[arg-type]
    srv = serve(app)
    for _ in range(2):  # a leaked place would turn the second into a 429
        resp = httpx.post(srv.url + CHAT, json=_body("broken"))
        assert resp.status_code == 500 and resp.json()["error"]["type"] == "server_error"
    assert server_state(app).admission.in_flight == 0
