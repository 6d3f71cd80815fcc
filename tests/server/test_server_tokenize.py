"""The real engine behind the server: a prompt is tokenised once, and a large one off the loop."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from agentkit._engine_model import EngineModel
from agentkit.server import ServerThread, create_app
from agentkit.server._engine_backend import EngineTextBackend

MODEL = "smollm2"
SERVER_THREAD = "agentkit-server"  # ServerThread's name: its event loop runs there
# Long in characters (over INLINE_TOKENIZE_CHARS), short in tokens (~75: a quick prefill).
LONG = "=" * 4500 + " Say hi."


@pytest.fixture(scope="module")
def engine() -> Any:
    from engine import Engine

    return Engine.load("default", threads=2, max_slots=2, max_seq_len=2048)


@pytest.fixture
def encodes(engine: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[int, str]]]:
    """Every text the engine tokenises (length, thread), from the server's check on."""
    calls: list[tuple[int, str]] = []
    real = engine.encode

    def encode(text: str) -> list[int]:
        calls.append((len(text), threading.current_thread().name))
        ids: list[int] = real(text)
        return ids

    monkeypatch.setattr(engine, "encode", encode)  # before the backends take it
    yield calls


@pytest.fixture
def srv(engine: Any, encodes: list[tuple[int, str]]) -> Iterator[ServerThread]:
    app = create_app(EngineModel(engine, name=MODEL), text=EngineTextBackend(engine, MODEL))
    with ServerThread(app) as server:
        yield server


def _long_calls(encodes: list[tuple[int, str]]) -> list[tuple[int, str]]:
    return [(n, thread) for n, thread in encodes if n >= len(LONG)]


@pytest.mark.parametrize("stream", [False, True])
def test_a_chat_prompt_is_tokenised_once_off_the_loop(
    srv: ServerThread, encodes: list[tuple[int, str]], stream: bool
) -> None:
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": LONG}],
        "max_tokens": 2,
        "temperature": 0,
        "stream": stream,
    }
    resp = httpx.post(srv.url + "/v1/chat/completions", json=body, timeout=120)
    assert resp.status_code == 200, resp.text
    calls = _long_calls(encodes)
    assert len(calls) == 1, calls  # the length check's ids feed the generation
    assert calls[0][1] != SERVER_THREAD


def test_a_completion_prompt_is_tokenised_once_off_the_loop(
    srv: ServerThread, encodes: list[tuple[int, str]]
) -> None:
    body = {"model": MODEL, "prompt": LONG, "max_tokens": 2, "temperature": 0}
    resp = httpx.post(srv.url + "/v1/completions", json=body, timeout=120)
    assert resp.status_code == 200, resp.text
    calls = _long_calls(encodes)
    assert len(calls) == 1 and calls[0][1] != SERVER_THREAD, calls


def test_a_prompt_over_the_context_is_tokenised_once_and_refused(
    srv: ServerThread, encodes: list[tuple[int, str]]
) -> None:
    over = "0" * 5000  # one token per digit: 5,000 tokens, the context is 2,048
    body = {"model": MODEL, "messages": [{"role": "user", "content": LONG + over}]}
    resp = httpx.post(srv.url + "/v1/chat/completions", json=body, timeout=120)
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "context_length_exceeded"
    assert len(_long_calls(encodes)) == 1
