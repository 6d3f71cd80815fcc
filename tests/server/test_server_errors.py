"""Every bad request gets the right status and an OpenAI-shaped error body."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator

import httpx
import openai
import pytest
from starlette.applications import Starlette

from agentkit import FunctionModel, Message, ScriptedModel
from agentkit.errors import ModelUnavailableError
from agentkit.server import ServerConfig, ServerThread, TextRequest, create_app
from agentkit.server._backend import render_text_prompt

Serve = Callable[[Starlette], ServerThread]
CHAT = "/v1/chat/completions"
OK_BODY = {"model": "scripted", "messages": [{"role": "user", "content": "hi"}]}


def _assert_error(resp: httpx.Response, status: int, param: str | None = None) -> dict[str, object]:
    assert resp.status_code == status, resp.text
    err = resp.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert isinstance(err["message"], str) and err["message"]
    if param is not None:
        assert err["param"] == param
    return dict(err)


@pytest.fixture(scope="module")
def srv() -> Iterator[ServerThread]:
    app = create_app(ScriptedModel(["fine"] * 10), config=ServerConfig(max_body_bytes=4096))
    with ServerThread(app) as server:
        yield server


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({**OK_BODY, "temperature": "hot"}, "temperature"),
        ({**OK_BODY, "temperature": 3.5}, "temperature"),
        ({**OK_BODY, "max_token": 5}, "max_token"),  # unknown field: OpenAI's 400
        ({**OK_BODY, "n": 9}, "n"),  # over ServerConfig.max_n (8)
        ({**OK_BODY, "max_tokens": 10**9}, "max_tokens"),
        ({**OK_BODY, "messages": []}, "messages"),
        ({**OK_BODY, "messages": [{"role": "wizard", "content": "x"}]}, "messages.0.role"),
        ({**OK_BODY, "stop": ["a", "b", "c", "d", "e"]}, "stop"),
        (
            {**OK_BODY, "tool_choice": {"type": "function", "function": {"name": "nope"}}},
            "tool_choice",
        ),
        ({"model": "scripted"}, "messages"),
    ],
)
def test_invalid_bodies_get_400_naming_the_field(
    srv: ServerThread, body: dict[str, object], param: str
) -> None:
    resp = httpx.post(srv.url + CHAT, json=body)
    err = _assert_error(resp, 400, param)
    assert err["type"] == "invalid_request_error"


@pytest.mark.parametrize("raw", [b"{not json", b"", b"[1, 2]", b"\xff\xfe"])
def test_malformed_json_gets_400(srv: ServerThread, raw: bytes) -> None:
    resp = httpx.post(srv.url + CHAT, content=raw, headers={"content-type": "application/json"})
    _assert_error(resp, 400)


def test_completions_reject_batches_and_best_of(srv: ServerThread) -> None:
    url = srv.url + "/v1/completions"
    _assert_error(httpx.post(url, json={"model": "scripted", "prompt": ["a", "b"]}), 400, "prompt")
    _assert_error(httpx.post(url, json={"model": "scripted", "prompt": "a", "best_of": 3}), 400)


def test_unknown_model_and_route_get_404(srv: ServerThread) -> None:
    err = _assert_error(httpx.post(srv.url + CHAT, json={**OK_BODY, "model": "gpt-9"}), 404)
    assert err["code"] == "model_not_found"
    _assert_error(httpx.get(srv.url + "/v1/models/gpt-9"), 404)
    _assert_error(httpx.get(srv.url + "/v1/nothing"), 404)
    _assert_error(httpx.get(srv.url + CHAT), 405)
    with pytest.raises(openai.NotFoundError):
        openai.OpenAI(base_url=srv.url + "/v1", api_key="x", max_retries=0).chat.completions.create(
            model="gpt-9", messages=[{"role": "user", "content": "x"}]
        )


def test_body_over_limit_gets_413_by_length_and_by_stream(srv: ServerThread) -> None:
    big = {**OK_BODY, "messages": [{"role": "user", "content": "x" * 10_000}]}
    _assert_error(httpx.post(srv.url + CHAT, json=big), 413)

    def chunked() -> Iterator[bytes]:  # no Content-Length: transfer-encoding chunked
        yield b'{"model": "scripted", "messages": [{"role": "user", "content": "'
        for _ in range(20):
            yield b"y" * 1000
        yield b'"}]}'

    json_type = {"Content-Type": "application/json"}
    _assert_error(httpx.post(srv.url + CHAT, content=chunked(), headers=json_type), 413)
    assert httpx.post(srv.url + CHAT, json=OK_BODY).status_code == 200  # still serving


def test_api_key(serve: Serve) -> None:
    srv = serve(create_app(ScriptedModel(["ok"]), config=ServerConfig(api_key="s3cret")))
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic s3cret"}):
        err = _assert_error(httpx.post(srv.url + CHAT, json=OK_BODY, headers=headers), 401)
        assert err["code"] == "invalid_api_key"
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=srv.url + "/v1", api_key="nope", max_retries=0).models.list()
    good = openai.OpenAI(base_url=srv.url + "/v1", api_key="s3cret", max_retries=0)
    reply = good.chat.completions.create(
        model="scripted", messages=[{"role": "user", "content": "x"}]
    )
    assert reply.choices[0].message.content == "ok"
    assert httpx.get(srv.url + "/health").status_code == 200  # probes need no key


class _CountingModel(FunctionModel):
    """A double that knows its 'tokenizer': one token per word, a 20-token context."""

    context_length = 20

    def count_tokens(self, text: str) -> int:
        return len(text.split())


def test_prompt_over_context_gets_400(serve: Serve) -> None:
    model = _CountingModel(lambda call: "ok", name="small")
    srv = serve(create_app(model))
    long = {"model": "small", "messages": [{"role": "user", "content": "w " * 25}]}
    err = _assert_error(httpx.post(srv.url + CHAT, json=long), 400)
    assert err["code"] == "context_length_exceeded"
    fits_not = {
        "model": "small",
        "messages": [{"role": "user", "content": "w " * 10}],
        "max_tokens": 15,
    }
    _assert_error(httpx.post(srv.url + CHAT, json=fits_not), 400)
    fits = {"model": "small", "messages": [{"role": "user", "content": "w " * 10}]}
    assert httpx.post(srv.url + CHAT, json=fits).status_code == 200
    assert model.calls[-1].settings.max_tokens == 10  # the default is clamped to the context
    suffix_long = {"model": "small", "prompt": "a " * 10, "suffix": "b " * 12}
    _assert_error(httpx.post(srv.url + "/v1/completions", json=suffix_long), 400)
    assert not any(len(c.messages[-1].content or "") > 100 for c in model.calls)


def test_backend_unavailable_gets_503_streaming_or_not(serve: Serve) -> None:
    down = ModelUnavailableError("connection refused", backend="x")
    srv = serve(create_app(ScriptedModel([down, down], name="scripted")))
    resp = httpx.post(srv.url + CHAT, json=OK_BODY)
    _assert_error(resp, 503)
    assert resp.headers["retry-after"] == "1"
    _assert_error(httpx.post(srv.url + CHAT, json={**OK_BODY, "stream": True}), 503)


class _FailingMidStream:
    """A text backend that fails after one delta (headers already sent)."""

    name = "flaky"
    native_fim = False

    async def stream_text(self, request: TextRequest) -> AsyncIterator[object]:
        from agentkit.events import TextDeltaEvent

        assert render_text_prompt(request.prompt, None) == [Message.user(request.prompt)]
        yield TextDeltaEvent(text="partial")
        raise ModelUnavailableError("engine crashed")


def test_error_mid_stream_is_reported_in_band(serve: Serve) -> None:
    srv = serve(create_app(ScriptedModel([], name="flaky"), text=_FailingMidStream()))  # type: ignore[arg-type]
    client = openai.OpenAI(base_url=srv.url + "/v1", api_key="x", max_retries=0)
    seen: list[str] = []
    with pytest.raises(openai.APIError):
        for chunk in client.completions.create(model="flaky", prompt="p", stream=True):
            seen.append(chunk.choices[0].text)
    assert seen == ["partial"]
    assert httpx.get(srv.url + "/health").json()["in_flight"] == 0
