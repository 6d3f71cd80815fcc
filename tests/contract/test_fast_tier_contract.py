"""The fast-tier contract: what any OpenAI-compatible fast-tier endpoint must do.

Runs against our own `agentkit serve` app on the embedded model by default.
Point it at another deployment (vLLM, another replica) with
``AGENTKIT_CONTRACT_BASE_URL=http://host:port/v1`` and ``AGENTKIT_CONTRACT_MODEL``
(the loopback guard then needs that host to be local, or run it outside this suite).
See docs/scale-out.md.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

MODEL = os.environ.get("AGENTKIT_CONTRACT_MODEL", "smollm2-135m-instruct")
SPEC_KEYS = {"drafted", "accepted", "acceptance_rate", "mean_accepted_length", "target_steps"}


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    """The endpoint under test: the configured one, or our server on the default engine."""
    configured = os.environ.get("AGENTKIT_CONTRACT_BASE_URL")
    if configured:
        yield configured.rstrip("/")
        return
    from agentkit import EngineModel
    from agentkit.server import ServerConfig, ServerThread, create_app
    from agentkit.server._engine_backend import EngineTextBackend
    from engine import Engine

    engine = Engine.load("default", max_slots=2, max_seq_len=1024)
    app = create_app(
        EngineModel(engine, name=MODEL),
        text=EngineTextBackend(engine, MODEL),
        config=ServerConfig(model_id=MODEL),
    )
    with ServerThread(app) as srv:
        yield srv.url + "/v1"


@pytest.fixture(scope="module")
def client(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url, api_key="contract", max_retries=0)


def _chat(client: openai.OpenAI, **kw: Any) -> Any:
    messages = [{"role": "user", "content": "Name three colours."}]
    return client.chat.completions.create(model=MODEL, messages=messages, temperature=0, **kw)


def test_lists_its_model(client: openai.OpenAI) -> None:
    assert MODEL in [m.id for m in client.models.list().data]


def test_stream_equals_non_stream_and_carries_statistics(client: openai.OpenAI) -> None:
    whole = _chat(client, max_tokens=12)
    assert whole.usage is not None and 1 <= whole.usage.completion_tokens <= 12
    assert set((whole.model_extra or {}).get("speculative", {})) >= SPEC_KEYS
    chunks = list(_chat(client, max_tokens=12, stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content  # greedy: same tokens either way
    assert set((chunks[-1].model_extra or {}).get("speculative", {})) >= SPEC_KEYS


def test_max_tokens_and_stop_are_honoured(client: openai.OpenAI) -> None:
    reply = _chat(client, max_tokens=3)
    assert reply.choices[0].finish_reason == "length" and reply.usage.completion_tokens == 3
    full = _chat(client, max_tokens=12).choices[0].message.content or ""
    stop = full.split()[1] if len(full.split()) > 1 else full[-1]
    cut = _chat(client, max_tokens=12, stop=[stop])
    assert stop not in (cut.choices[0].message.content or "")
    assert cut.choices[0].finish_reason == "stop"


def test_deadline_cuts_generation(base_url: str) -> None:
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "Write a long story about a dragon."}],
        "max_tokens": 500,
        "deadline_ms": 150,
    }
    reply = httpx.post(base_url + "/chat/completions", json=body, timeout=60).json()
    assert reply["choices"][0]["finish_reason"] == "deadline"
    assert reply["usage"]["completion_tokens"] < 500


def test_bad_requests_get_openai_shaped_errors(base_url: str) -> None:
    bad = httpx.post(base_url + "/chat/completions", json={"model": MODEL}, timeout=30)
    assert bad.status_code == 400
    assert {"message", "type"} <= set(bad.json()["error"])
