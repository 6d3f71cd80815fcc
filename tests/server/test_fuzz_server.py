"""Fuzzing the running server (the real engine behind it) with hypothesis.

Bodies (any JSON value; chat and completion requests with mutated field types
and values, huge and negative numbers, any Unicode), headers (Content-Type,
Authorization with non-ASCII bytes, Host) and paths go over loopback to two
servers sharing one engine: one without an API key and one with. Whatever is
sent: no 5xx, every error body is OpenAI's error object, a stream carries no
``server_error`` event, and afterwards ``/health`` shows every KV slot free.

Generation is bounded by the app's config (``max_tokens`` at most 16, 4 by
default), so a valid request costs ~0.1 s. The default run is derandomised and
short; the ``slow`` variant runs many more examples with fresh randomness.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from _server_doubles import wait_until
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from agentkit._engine_model import EngineModel
from agentkit.server import ServerConfig, ServerThread, create_app
from agentkit.server._engine_backend import EngineTextBackend

MODEL = "fuzz-model"
KEY = "fuzz-key"
SLOTS = 2
FAST = {"bodies": 60, "mutations": 120, "headers": 60, "paths": 40}
PROFILES = [
    pytest.param(1, id="default"),
    pytest.param(25, id="long", marks=pytest.mark.slow),  # x25 examples, random seeds
]


class Servers:
    """The keyless and the keyed server over one engine, and one client."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        config = {"model_id": MODEL, "default_max_tokens": 4, "max_tokens_limit": 16}

        def app(**extra: Any) -> Any:
            return create_app(
                EngineModel(engine, name=MODEL),
                text=EngineTextBackend(engine, MODEL),
                config=ServerConfig(**config, **extra),
            )

        self.open = ServerThread(app()).start()
        self.keyed = ServerThread(app(api_key=KEY)).start()
        self.client = httpx.Client(timeout=60.0)

    def close(self) -> None:
        self.client.close()
        self.open.stop()
        self.keyed.stop()


@pytest.fixture(scope="module")
def servers() -> Iterator[Servers]:
    from engine import Engine

    engine = Engine.load("default", threads=1, max_slots=SLOTS, max_seq_len=512)
    both = Servers(engine)
    yield both
    both.close()


def _settings(scale: int, examples: int) -> settings:
    """Derandomised at scale 1 (the default suite); fresh randomness in the long runs."""
    return settings(
        max_examples=examples * scale, derandomize=scale == 1, database=None, deadline=None,
        suppress_health_check=list(HealthCheck),
    )  # fmt: skip


def check_response(resp: httpx.Response, method: str = "POST") -> None:
    """No 5xx; an error is OpenAI's error object; a stream has no server_error event."""
    assert resp.status_code < 500, (resp.status_code, resp.text[:500])
    if method == "HEAD" or resp.status_code in (204, 304):
        return
    if resp.status_code >= 400:
        assert resp.headers["content-type"].startswith("application/json"), resp.headers
        error = resp.json()["error"]
        assert set(error) == {"message", "type", "param", "code"}, error
        assert isinstance(error["message"], str) and error["message"]
        assert isinstance(error["type"], str) and error["type"] != "server_error"
        assert error["param"] is None or isinstance(error["param"], str)
        assert error["code"] is None or isinstance(error["code"], str)
    elif resp.headers.get("content-type", "").startswith("text/event-stream"):
        events = [line[6:] for line in resp.text.splitlines() if line.startswith("data: ")]
        assert events and events[-1] == "[DONE]", resp.text[-300:]
        for event in events[:-1]:
            data = json.loads(event)
            assert "error" not in data or data["error"]["type"] != "server_error", data


def assert_slots_free(both: Servers) -> None:
    """Every KV slot free again, as both servers' /health and the engine see it."""

    def free() -> bool:
        health = [both.client.get(f"{s.url}/health").json() for s in (both.open, both.keyed)]
        return all(h.get("in_flight") == 0 and not h.get("slots_in_use") for h in health)

    assert wait_until(free, timeout_s=10), [
        both.client.get(f"{s.url}/health").json() for s in (both.open, both.keyed)
    ]
    assert both.engine.cache.free_slots == SLOTS


# -- strategies -------------------------------------------------------------------------------

_text = st.text(max_size=40)  # any Unicode, lone surrogates included (JSON escapes them)
_json_scalars = (
    st.none() | st.booleans() | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | _text
)  # fmt: skip
json_values = st.recursive(
    _json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4),
    max_leaves=12,
)
_numbers = st.sampled_from([0, -1, 1, 2, 4, 16, 17, 2**31, 2**53, 2**63 - 1, 2**63, 2**64, 10**30,
                            -(2**63), 0.5, -0.0, 1e308, 1.5, 2.0000001])  # fmt: skip
_wrong = st.sampled_from([None, True, "4", "", [], {}, [1], {"a": 1}, "\x00", "\ud800"])
_any_value = _numbers | _wrong | _text | json_values


def _messages() -> st.SearchStrategy[Any]:
    role = st.sampled_from(["system", "developer", "user", "assistant", "tool", "bot", ""])
    content = (
        _text
        | st.none()
        | st.lists(
            st.fixed_dictionaries(
                {"type": st.sampled_from(["text", "image_url", ""]), "text": _text}
            ),
            max_size=3,
        )
    )
    message = st.fixed_dictionaries(
        {"role": role, "content": content},
        optional={"name": _text, "tool_call_id": _text, "tool_calls": json_values},
    )
    return st.lists(message, max_size=4) | _any_value


_schemas = st.sampled_from([
    {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]},
    {"type": "object", "properties": {"a": {"$ref": "#/nope"}}},
    {"type": "strin"}, {"type": "object", "minProperties": 10**9}, {"enum": []}, {"not": {}},
    {"type": "array", "items": {"type": "string", "pattern": "(("}},
]) | st.dictionaries(_text, json_values, max_size=3)  # fmt: skip
_tools = st.lists(
    st.fixed_dictionaries({
        "type": st.sampled_from(["function", "code"]),
        "function": st.fixed_dictionaries(
            {"name": st.sampled_from(["get_weather", "x" * 65, "bad name", ""]) | _text},
            optional={"parameters": _schemas, "description": _text},
        ),
    }),
    max_size=2,
) | _any_value  # fmt: skip

_CHAT_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "model": st.sampled_from([MODEL, "gpt-4o", ""]) | _any_value,
    "messages": _messages(),
    "max_tokens": _numbers | _wrong,
    "max_completion_tokens": _numbers | _wrong,
    "temperature": _numbers | _wrong,
    "top_p": _numbers | _wrong,
    "seed": _numbers | _wrong,
    "n": _numbers | _wrong,
    "stop": _text | st.lists(_text | st.text(min_size=390, max_size=410), max_size=5) | _wrong,
    "stream": st.booleans() | _wrong,
    "stream_options": st.fixed_dictionaries({"include_usage": st.booleans() | _wrong}) | _wrong,
    "deadline_ms": _numbers | _wrong,
    "tools": _tools,
    "tool_choice": st.sampled_from(["auto", "none", "required", "any"]) | json_values,
    "response_format": st.fixed_dictionaries(
        {
            "type": st.sampled_from(["text", "json_object", "json_schema", "xml"]),
            "json_schema": st.fixed_dictionaries({"name": _text, "schema": _schemas}) | _schemas,
        }
    )
    | _wrong,
    "logprobs": st.booleans() | _numbers,
    "top_logprobs": _numbers,
    "logit_bias": st.dictionaries(_text, _numbers | _wrong, max_size=3) | _wrong,
    "presence_penalty": _numbers,
    "user": _text | _wrong,
    "metadata": json_values,
    "not_a_field": json_values,
}
_TEXT_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    **{k: v for k, v in _CHAT_FIELDS.items() if k not in ("messages", "tools", "tool_choice")},
    "prompt": _text | st.lists(_text, max_size=3) | st.lists(_numbers, max_size=3) | _wrong,
    "suffix": _text | _wrong,
    "echo": st.booleans() | _wrong,
    "best_of": _numbers | _wrong,
    "logprobs": _numbers | _wrong,
}


@st.composite
def mutated_request(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """A valid request with 1-3 fields replaced or added with drawn values."""
    chat = draw(st.booleans())
    body: dict[str, Any] = {"model": MODEL, "max_tokens": 2, "temperature": 0}
    if chat:
        body["messages"] = [{"role": "user", "content": "Say hi"}]
    else:
        body["prompt"] = "1, 2, 3,"
    fields = _CHAT_FIELDS if chat else _TEXT_FIELDS
    for name in draw(st.lists(st.sampled_from(sorted(fields)), min_size=1, max_size=3)):
        body[name] = draw(fields[name])
    return ("/v1/chat/completions" if chat else "/v1/completions"), body


def _encode(body: Any) -> bytes:
    return json.dumps(body).encode()  # ensure_ascii: lone surrogates travel as \\ud800


# -- tests ------------------------------------------------------------------------------------


@pytest.mark.parametrize("scale", PROFILES)
def test_any_json_body(servers: Servers, scale: int) -> None:
    @_settings(scale, FAST["bodies"])
    @given(body=json_values, chat=st.booleans())
    def run(body: Any, chat: bool) -> None:
        path = "/v1/chat/completions" if chat else "/v1/completions"
        resp = servers.client.post(
            servers.open.url + path, content=_encode(body),
            headers={"content-type": "application/json"},
        )  # fmt: skip
        check_response(resp)

    run()
    assert_slots_free(servers)


_CHAT = {"model": MODEL, "max_tokens": 2, "messages": [{"role": "user", "content": "Say hi"}]}
_TEXT = {"model": MODEL, "max_tokens": 2, "prompt": "1, 2, 3,"}
# Pinned cases: each once took a slot for good, answered 5xx or ate memory.
_KNOWN = [
    ("/v1/completions", {**_TEXT, "seed": 2**64}),
    ("/v1/chat/completions", {**_CHAT, "seed": -1}),
    ("/v1/chat/completions", {**_CHAT, "stop": ["x" * 10_000]}),
    ("/v1/chat/completions", {**_CHAT, "deadline_ms": 1}),
    ("/v1/chat/completions", {**_CHAT, "response_format": {"type": "json_schema", "json_schema": {
        "name": "x", "schema": {"type": "array", "items": {"type": "string", "pattern": "(("}}}}}),
    ("/v1/chat/completions", {**_CHAT, "tools": [{"type": "function", "function": {
        "name": "f", "parameters": {"type": "object", "properties": {"a": {"$ref": "#/no"}}}}}]}),
    ("/v1/completions", {**_TEXT, "prompt": "hi " * 2000}),
    ("/v1/chat/completions", {**_CHAT, "n": 8, "stream": True, "logprobs": True,
                              "top_logprobs": 20, "temperature": 1.5, "seed": 2**63 - 1}),
    ("/v1/completions", {**_TEXT, "n": 3, "logprobs": 5, "suffix": "\n4, 5", "stop": ","}),
]  # fmt: skip


def _pinned(cases: list[tuple[str, dict[str, Any]]]) -> Any:
    def decorate(test: Any) -> Any:
        for case in cases:
            test = example(request=case)(test)
        return test

    return decorate


@pytest.mark.parametrize("scale", PROFILES)
def test_mutated_openai_requests(servers: Servers, scale: int) -> None:
    @_settings(scale, FAST["mutations"])
    @_pinned(_KNOWN)
    @given(request=mutated_request())
    def run(request: tuple[str, dict[str, Any]]) -> None:
        path, body = request
        headers = {"content-type": "application/json"}
        resp = servers.client.post(servers.open.url + path, content=_encode(body), headers=headers)
        check_response(resp)

    run()
    assert_slots_free(servers)


_header_bytes = st.binary(max_size=40).map(
    lambda b: bytes(c for c in b if c > 0x20 and c != 0x7F)  # no NUL, CR, LF or edge spaces
)
_content_types = st.sampled_from([
    b"application/json", b"application/json; charset=utf-8", b"APPLICATION/JSON",
    b"text/plain", b"application/x-www-form-urlencoded", b"multipart/form-data; boundary=x",
    b"application/jsonx", b"json", b"application/json;charset=latin-1",
]) | _header_bytes  # fmt: skip
_hosts = st.sampled_from([
    b"127.0.0.1", b"localhost", b"[::1]", b"127.0.0.1:1", b"localhost.", b"LOCALHOST",
    b"evil.example", b"127.0.0.1.evil.example", b"0.0.0.0", b"127.1", b"[::ffff:127.0.0.1]",
    b"localhost:99999", b"\xff\xfe", b"a@127.0.0.1",
]) | _header_bytes  # fmt: skip
_auth = st.sampled_from([
    b"Bearer " + KEY.encode(), b"bearer " + KEY.encode(), b"Bearer  " + KEY.encode(),
    b"Bearer " + KEY.encode() + b"\xff", b"Bearer", b"Basic Zm9vOmJhcg==",
    "Bearer clé".encode(), b"Bearer \xc3\x28", "Bearer ключ".encode(),
]) | _header_bytes.map(lambda b: (b"Bearer " + b).rstrip())  # fmt: skip


@pytest.mark.parametrize("scale", PROFILES)
def test_headers(servers: Servers, scale: int) -> None:
    @_settings(scale, FAST["headers"])
    @example(content_type=None, host=None, auth=b"Bearer fuzz-key\xff", keyed=True, chat=False)
    @example(content_type=b"text/plain", host=b"evil.example", auth=None, keyed=False, chat=True)
    @given(
        content_type=st.none() | _content_types, host=st.none() | _hosts,
        auth=st.none() | _auth, keyed=st.booleans(), chat=st.booleans(),
    )  # fmt: skip
    def run(
        content_type: bytes | None, host: bytes | None, auth: bytes | None, keyed: bool, chat: bool
    ) -> None:
        server = servers.keyed if keyed else servers.open
        path = "/v1/chat/completions" if chat else "/v1/completions"
        body: dict[str, Any] = {"model": MODEL, "max_tokens": 2, "temperature": 0}
        body.update({"messages": [{"role": "user", "content": "hi"}]} if chat else {"prompt": "1,"})
        headers = [
            (name, value)
            for name, value in ((b"content-type", content_type), (b"host", host),
                                (b"authorization", auth))
            if value is not None
        ]  # fmt: skip
        resp = servers.client.post(server.url + path, content=_encode(body), headers=headers)
        check_response(resp)

    run()
    assert_slots_free(servers)


_path_chars = st.characters(codec="utf-8", exclude_categories=["Cc"], exclude_characters="?#")


@pytest.mark.parametrize("scale", PROFILES)
def test_paths_and_methods(servers: Servers, scale: int) -> None:
    prefixes = st.sampled_from(["/", "/v1/", "/v1/models/", "/v1/chat/", "/health/", "/metrics/"])

    @_settings(scale, FAST["paths"])
    @given(
        prefix=prefixes, rest=st.text(_path_chars, max_size=30),
        method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]),
        keyed=st.booleans(),
    )  # fmt: skip
    def run(prefix: str, rest: str, method: str, keyed: bool) -> None:
        server = servers.keyed if keyed else servers.open
        headers = {"content-type": "application/json", "authorization": f"Bearer {KEY}"}
        resp = servers.client.request(
            method, server.url + prefix + rest, content=b"{}", headers=headers
        )
        check_response(resp, method)

    run()
    assert_slots_free(servers)
