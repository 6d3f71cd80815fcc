"""Status codes say who can fix a failed request: 400 the caller, 429 time, 503 the operator.

The engine's typed errors reach the server directly (text completions) or as
the cause of the `BackendError` that ``EngineModel`` raises (chat); both map
the same way. Hostile values (huge seeds, megabyte stops) are refused before
they reach the engine, and no refused request keeps a KV-cache slot.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from _server_doubles import wait_until

from agentkit import Message, ScriptedModel
from agentkit._engine_model import EngineModel
from agentkit._errors import BackendError, ModelHTTPError, ModelUnavailableError
from agentkit.server import ServerThread, create_app
from agentkit.server._engine_backend import EngineTextBackend
from agentkit.server._errors import error_from_exception
from agentkit.server._wire import MAX_STOP_CHARS

MODEL = "smollm2"
CHAT = "/v1/chat/completions"
TEXT = "/v1/completions"


def _chat(content: str | None = "Say hi", **extra: object) -> dict[str, object]:
    return {"model": MODEL, "messages": [{"role": "user", "content": content}], **extra}


def _text(**extra: object) -> dict[str, object]:
    return {"model": MODEL, "prompt": "1, 2, 3,", "max_tokens": 2, "temperature": 0, **extra}


def _error(resp: httpx.Response, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    err: dict[str, Any] = resp.json()["error"]
    assert isinstance(err["message"], str) and err["message"]
    return err


# ---- the mapping table, one engine error at a time ----------------------------------


def test_every_engine_error_maps_to_its_status_directly_or_as_a_cause() -> None:
    from engine import (
        CapacityError,
        ChatTemplateError,
        ContextOverflowError,
        EngineError,
        InvalidRequestError,
        InvalidSamplingError,
    )
    from engine.scheduler import DeadlineError, QueueFullError, SchedulerClosedError

    cases: list[tuple[BaseException, int, str | None]] = [
        (ContextOverflowError("long", prompt_tokens=9, max_seq_len=8), 400, "messages"),
        (ChatTemplateError("roles must alternate"), 400, "messages"),
        (InvalidSamplingError("bad schema", field="json_schema"), 400, "json_schema"),
        (InvalidRequestError("bad"), 400, None),
        (CapacityError("no slot"), 429, None),
        (QueueFullError("full", max_queue=4), 429, None),
        (DeadlineError("late", estimated_start_s=2.3), 429, None),
        (SchedulerClosedError("closed"), 503, None),
        (EngineError("stream ended without a result"), 500, None),
    ]
    for exc, status, param in cases:
        wrapped = BackendError(f"engine: {exc}", backend="engine")
        wrapped.__cause__ = exc
        for raised in (exc, wrapped):
            err = error_from_exception(raised, retry_after_s=1)
            assert (err.status, err.param) == (status, param), (raised, err.message)
            if status in (429, 503):
                assert int(err.headers["Retry-After"]) >= 1
    late = error_from_exception(DeadlineError("late", estimated_start_s=2.3))
    assert late.headers["Retry-After"] == "3"  # the estimated wait, rounded up


def test_other_failures_502_503_or_500() -> None:
    assert error_from_exception(ModelHTTPError(500, "upstream broke")).status == 502
    assert error_from_exception(ModelUnavailableError("refused")).status == 503
    assert error_from_exception(BackendError("engine: x")).status == 502  # no engine cause
    internal = error_from_exception(RuntimeError("bug"))
    assert internal.status == 500 and "bug" not in internal.message


# ---- refused before the backend: seeds and stops ------------------------------------


@pytest.mark.parametrize("path", [CHAT, TEXT])
def test_out_of_range_seed_and_over_long_stop_are_400(serve: Any, path: str) -> None:
    srv = serve(create_app(ScriptedModel(["ok"] * 8, name=MODEL)))
    make = _chat if path == CHAT else _text
    for seed in (2**64, 2**63, -1):
        assert _error(httpx.post(srv.url + path, json=make(seed=seed)), 400)["param"] == "seed"
    for stop in ["x" * (MAX_STOP_CHARS + 1), ["ok", "y" * 100_000]]:
        err = _error(httpx.post(srv.url + path, json=make(stop=stop)), 400)
        assert err["param"] == "stop" and str(MAX_STOP_CHARS) in err["message"]
    fine = make(seed=2**63 - 1, stop=["z" * MAX_STOP_CHARS])
    assert httpx.post(srv.url + path, json=fine).status_code == 200


def test_server_and_engine_share_the_stop_limit() -> None:
    from engine._types import MAX_STOP_CHARS as ENGINE_MAX

    assert MAX_STOP_CHARS == ENGINE_MAX


# ---- the real engine ----------------------------------------------------------------


@pytest.fixture(scope="module")
def engine() -> Any:
    from engine import Engine
    from engine.scheduler import SchedulerConfig

    eng = Engine.load(
        "default", threads=2, max_slots=2, max_seq_len=512, scheduler=SchedulerConfig(max_queue=1)
    )
    yield eng
    eng.close()


@pytest.fixture
def served(engine: Any) -> Iterator[ServerThread]:
    app = create_app(EngineModel(engine, name=MODEL), text=EngineTextBackend(engine, MODEL))
    with ServerThread(app) as srv:
        yield srv


def _slots(srv: ServerThread) -> tuple[int, int]:
    body = httpx.get(srv.url + "/health").json()
    return body["slots_in_use"], body["slots_total"]


def test_bad_requests_leak_no_slot_and_health_reports_slots(served: ServerThread) -> None:
    """A seed of 2^64 used to leak a slot each: two of them made the server refuse everything."""
    for _ in range(3):
        for path, make in ((CHAT, _chat), (TEXT, _text)):
            for bad in ({"seed": 2**64}, {"seed": -5}, {"stop": "s" * 5000}):
                _error(httpx.post(served.url + path, json=make(**bad)), 400)
    assert _slots(served) == (0, 2)
    for path, make in ((CHAT, _chat), (TEXT, _text)):
        resp = httpx.post(served.url + path, json=make(max_tokens=2, seed=7), timeout=60)
        assert resp.status_code == 200, resp.text
    assert wait_until(lambda: _slots(served) == (0, 2))


def test_no_free_slot_is_a_429(served: ServerThread, engine: Any) -> None:
    """Every slot held (here: outside the scheduler): 429 with Retry-After on both endpoints.

    The old version of this test sent a burst the scheduler simply queued: it
    passed with only 200s and never saw a 429.
    """
    from engine import SamplingParams

    held = [engine.new_sequence([1, 2, 3], SamplingParams()) for _ in range(2)]
    try:
        for path, body in ((CHAT, _chat(max_tokens=2)), (TEXT, _text())):
            resp = httpx.post(served.url + path, json=body, timeout=60)
            assert _error(resp, 429)["type"] == "rate_limit_error"
            assert resp.headers["retry-after"] == "1"
        assert _slots(served) == (2, 2)
    finally:
        for seq in held:
            engine.release(seq)
    resp = httpx.post(served.url + CHAT, json=_chat(max_tokens=2), timeout=60)
    assert resp.status_code == 200, resp.text


def test_full_queue_is_a_429(served: ServerThread, engine: Any) -> None:
    from engine import SamplingParams
    from engine.scheduler import QueueFullError

    with engine._lock:  # hold the driver in its step: one request runs, one waits (the bound)
        fillers = [engine.scheduler.submit([1, 2, 3], SamplingParams(max_tokens=2))]
        assert wait_until(lambda: engine.scheduler.stats().running == 1)
        fillers.append(engine.scheduler.submit([4, 5, 6], SamplingParams(max_tokens=2)))
        assert engine.scheduler.stats().waiting == 1
        for path, body in ((CHAT, _chat(max_tokens=2)), (TEXT, _text())):
            resp = httpx.post(served.url + path, json=body, timeout=60)
            assert _error(resp, 429)["code"] == "capacity"
            assert resp.headers["retry-after"] == "1"
        # the agent loop is told the same: a full queue is worth retrying
        with pytest.raises(BackendError) as info:
            asyncio.run(EngineModel(engine).complete([Message.user("hi")]))
        assert info.value.retryable and isinstance(info.value.__cause__, QueueFullError)
    assert wait_until(lambda: all(f.request.done for f in fillers), timeout_s=30)
    assert wait_until(lambda: _slots(served) == (0, 2))


def test_conversation_the_template_rejects_is_a_400(served: ServerThread, engine: Any) -> None:
    # a null user content: the template's '...' + content raised TypeError (a 500)
    err = _error(httpx.post(served.url + CHAT, json=_chat(None)), 400)
    assert (err["param"], err["code"]) == ("messages", "invalid_conversation")
    bad_schema = {"type": "json_schema", "json_schema": {"schema": {"type": "objekt"}}}
    resp = httpx.post(served.url + CHAT, json=_chat(max_tokens=2, response_format=bad_schema))
    assert _error(resp, 400)["param"] == "json_schema"  # was 502, as if the backend failed


def test_template_raise_exception_is_a_400(
    served: ServerThread, engine: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dataclasses

    from engine.loader._chat import ChatTemplate

    strict = ChatTemplate(
        "{% if messages[0]['role'] == 'system' %}"
        "{{ raise_exception('System role not supported') }}{% endif %}"
        "{% for m in messages %}{{ m['content'] }}{% endfor %}"
    )
    monkeypatch.setattr(engine, "loaded", dataclasses.replace(engine.loaded, chat_template=strict))
    body = {"model": MODEL, "messages": [{"role": "system", "content": "x"}, {"role": "user"}]}
    err = _error(httpx.post(served.url + CHAT, json=body), 400)
    assert "System role not supported" in err["message"]


def test_length_check_counts_the_rendered_prompt(served: ServerThread, engine: Any) -> None:
    """The messages' text fits the context; with the template's system prompt it does not."""
    content = "hello " * 200
    text_tokens = len(engine.encode(content))
    rendered = len(engine.encode(engine.render_chat([{"role": "user", "content": content}])))
    n = 0
    while text_tokens < engine.max_seq_len - 1 and rendered < engine.max_seq_len:
        n += 1
        content = "hello " * (200 + n)
        text_tokens = len(engine.encode(content))
        rendered = len(engine.encode(engine.render_chat([{"role": "user", "content": content}])))
    assert text_tokens < engine.max_seq_len <= rendered  # the case the old check let through
    steps = engine.scheduler.stats().steps
    err = _error(httpx.post(served.url + CHAT, json=_chat(content)), 400)
    assert err["code"] == "context_length_exceeded"
    assert f"({rendered} in the prompt" in err["message"]
    assert engine.scheduler.stats().steps == steps  # refused before the engine saw it


def test_shutting_down_is_a_503(served: ServerThread, engine: Any) -> None:
    """A request in flight when the engine closes gets 503 (send it elsewhere), not 500."""
    answers: list[httpx.Response] = []
    body = _chat(max_tokens=50, temperature=0)

    def ask() -> None:
        answers.append(httpx.post(served.url + CHAT, json=body, timeout=60))

    closer = threading.Thread(target=engine.close)
    with engine._lock:  # the request is admitted, its first step waits for us
        asker = threading.Thread(target=ask)
        asker.start()
        assert wait_until(lambda: engine.scheduler.stats().running == 1, timeout_s=30)
        closer.start()  # closing: the driver drops what runs after this step
        assert wait_until(lambda: engine._scheduler is None or engine._scheduler._closed)
    closer.join(30)
    asker.join(60)
    err = _error(answers[0], 503)
    assert err["code"] == "shutting_down" and answers[0].headers["retry-after"] == "1"
    assert engine.cache.free_slots == 2
