"""Admission comes before any heavy work, and large prompts are tokenised off the event loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import httpx
from _server_doubles import wait_until
from starlette.applications import Starlette

from agentkit import FunctionModel
from agentkit.server import ServerConfig, ServerThread, create_app, server_state
from agentkit.testing import ModelCall

Serve = Callable[[Starlette], ServerThread]
CHAT = "/v1/chat/completions"
SERVER_THREAD = "agentkit-server"  # ServerThread's name: its event loop runs there


class _CountingModel(FunctionModel):
    """A double with a 'tokenizer' that records each text it counts, and on which thread."""

    context_length = 1_000_000

    def __init__(self, fn: Callable[[ModelCall], object], name: str) -> None:
        super().__init__(fn, name=name)  # type: ignore[arg-type]
        self.counted: list[tuple[int, str]] = []

    def count_tokens(self, text: str) -> int:
        self.counted.append((len(text), threading.current_thread().name))
        return len(text) // 4


def _chat(content: str, **extra: object) -> dict[str, object]:
    return {"model": "counting", "messages": [{"role": "user", "content": content}], **extra}


def test_a_full_server_refuses_before_tokenising(serve: Serve) -> None:
    release = threading.Event()

    async def held(call: ModelCall) -> str:
        while not release.is_set():
            await asyncio.sleep(0.01)
        return "done"

    model = _CountingModel(held, name="counting")
    app = create_app(model, config=ServerConfig(max_queue=1))
    srv = serve(app)
    first: list[httpx.Response] = []
    thread = threading.Thread(
        target=lambda: first.append(httpx.post(srv.url + CHAT, json=_chat("hi"), timeout=30))
    )
    thread.start()
    try:
        assert wait_until(lambda: server_state(app).admission.in_flight == 1)
        big = "word " * 150_000  # 750 KB
        for path, body in (
            (CHAT, _chat(big)),
            ("/v1/completions", {"model": "counting", "prompt": big}),
        ):
            resp = httpx.post(srv.url + path, json=body, timeout=30)
            assert resp.status_code == 429, resp.text
    finally:
        release.set()
        thread.join(30)
    assert first[0].status_code == 200
    assert all(size < 1000 for size, _ in model.counted), model.counted  # the big ones: never


def test_large_prompts_are_tokenised_off_the_event_loop_and_once(serve: Serve) -> None:
    model = _CountingModel(lambda call: "ok", name="counting")
    srv = serve(create_app(model))
    big = "word " * 40_000  # 200 KB: ~0.25 s of a real tokenizer
    assert httpx.post(srv.url + CHAT, json=_chat(big), timeout=30).status_code == 200
    completion = {"model": "counting", "prompt": big, "max_tokens": 5}
    assert httpx.post(srv.url + "/v1/completions", json=completion, timeout=30).status_code == 200
    large = [(size, thread) for size, thread in model.counted if size >= len(big)]
    assert len(large) == 2  # once per request
    assert all(thread != SERVER_THREAD for _, thread in large), large


def test_small_prompts_are_counted_inline(serve: Serve) -> None:
    model = _CountingModel(lambda call: "ok", name="counting")
    srv = serve(create_app(model))
    assert httpx.post(srv.url + CHAT, json=_chat("short")).status_code == 200
    assert [thread for _, thread in model.counted] == [SERVER_THREAD]  # a thread hop costs more


def test_context_overflow_is_still_a_400_after_admission(serve: Serve) -> None:
    model = _CountingModel(lambda call: "ok", name="counting")
    model.context_length = 1000
    app = create_app(model)
    srv = serve(app)
    for stream in (False, True):
        resp = httpx.post(srv.url + CHAT, json=_chat("word " * 2000, stream=stream))
        assert resp.status_code == 400
        assert resp.json()["error"]["code"] == "context_length_exceeded"
    assert server_state(app).admission.in_flight == 0
    assert model.calls == []  # never generated
