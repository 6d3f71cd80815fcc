"""(slow) The real engine behind the server: slots are freed on disconnect.

A full engine answering 429 is tested in the default suite (test_server_status.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from _server_doubles import wait_until

from agentkit._engine_model import EngineModel
from agentkit.server import ServerThread, create_app, server_state
from agentkit.server._engine_backend import EngineTextBackend

pytestmark = pytest.mark.slow
MODEL = "smollm2"


@pytest.fixture(scope="module")
def engine() -> Any:
    from engine import Engine

    return Engine.load("default", threads=2, max_slots=2, max_seq_len=512)


@pytest.fixture
def served(engine: Any) -> Iterator[tuple[ServerThread, Any]]:
    app = create_app(EngineModel(engine, name=MODEL), text=EngineTextBackend(engine, MODEL))
    with ServerThread(app) as srv:
        yield srv, app


def test_openai_client_against_the_engine(served: tuple[ServerThread, Any], engine: Any) -> None:
    srv, _ = served
    client = openai.OpenAI(base_url=srv.url + "/v1", api_key="x", max_retries=0)
    reply = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Say hi"}], max_tokens=5, temperature=0
    )
    assert reply.usage is not None and 1 <= reply.usage.completion_tokens <= 5
    assert reply.model_extra is not None
    assert reply.model_extra["speculative"]["target_steps"] >= 0
    text = client.completions.create(model=MODEL, prompt="1, 2, 3,", max_tokens=4, temperature=0)
    assert text.choices[0].finish_reason in ("length", "stop")
    assert engine.cache.free_slots == 2


def test_disconnect_frees_the_engine_slot(served: tuple[ServerThread, Any], engine: Any) -> None:
    srv, app = served
    body = {"model": MODEL, "prompt": "Once upon a time", "max_tokens": 400, "stream": True}
    with httpx.stream("POST", srv.url + "/v1/completions", json=body, timeout=60) as resp:
        lines = resp.iter_lines()
        assert next(line for line in lines if line).startswith("data: ")
        assert engine.cache.free_slots == 1  # generating
    assert wait_until(lambda: engine.cache.free_slots == 2, timeout_s=10)
    assert wait_until(lambda: server_state(app).admission.in_flight == 0)
