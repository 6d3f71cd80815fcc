"""A hostile or broken deep tier: every malformed answer is a typed `BackendError`.

The wire parsers are fuzzed with arbitrary JSON (derandomised); whole responses
go through `OpenAIModel` over an ``httpx.MockTransport``: bad JSON, missing
fields, huge bodies and lines, bytes that are not UTF-8, line separators inside
JSON strings, and tool-call arguments that are not JSON.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator

import anyio
import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentkit import Message, ScriptedModel, _openai_io
from agentkit._agent import Agent
from agentkit._breaker import CircuitBreaker
from agentkit._errors import ModelProtocolError, ModelUnavailableError
from agentkit._model import ModelEvent, ModelResponse, TextDeltaEvent, ToolCallEvent
from agentkit._openai_io import MAX_BODY_BYTES, MAX_LINE_BYTES
from agentkit._openai_model import OpenAIModel, RetryPolicy, Timeouts
from agentkit._openai_wire import (
    MAX_TOOL_CALLS,
    SSEState,
    ToolCallAccumulator,
    parse_completion,
    parse_json,
)
from agentkit._runner import Runner
from router import Decision, RouteContext, StreamSignals
from tools import calculator

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)
_KEYS = (
    "choices",
    "delta",
    "message",
    "content",
    "tool_calls",
    "function",
    "name",
    "arguments",
    "index",
    "id",
    "finish_reason",
    "usage",
    "speculative",
    "error",
)
# JSON objects built from the wire's own keys, so the fuzz reaches past the first check.
_SHAPED = st.recursive(
    _JSON,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(_KEYS), inner, max_size=4)
    ),
    max_leaves=20,
)


_OBJECTS = st.dictionaries(st.sampled_from(_KEYS), _SHAPED, max_size=4)


def _chunk_is_events_or_a_protocol_error(chunk: dict[str, object]) -> None:
    acc = ToolCallAccumulator()
    with contextlib.suppress(ModelProtocolError):
        SSEState().chunk(chunk, acc, "fuzz")
        acc.calls()


def _completion_is_a_response_or_a_protocol_error(data: dict[str, object]) -> None:
    with contextlib.suppress(ModelProtocolError):
        parse_completion(data, "fuzz", "m")


@settings(derandomize=True, max_examples=120, deadline=None)
@given(_OBJECTS)
def test_any_chunk_is_events_or_a_protocol_error(chunk: dict[str, object]) -> None:
    _chunk_is_events_or_a_protocol_error(chunk)


@settings(derandomize=True, max_examples=120, deadline=None)
@given(_OBJECTS)
def test_any_completion_is_a_response_or_a_protocol_error(data: dict[str, object]) -> None:
    _completion_is_a_response_or_a_protocol_error(data)


@pytest.mark.slow
@settings(max_examples=5_000, deadline=None)
@given(_OBJECTS, _OBJECTS)
def test_wire_fuzz_long(chunk: dict[str, object], data: dict[str, object]) -> None:
    _chunk_is_events_or_a_protocol_error(chunk)
    _completion_is_a_response_or_a_protocol_error(data)


def _model(body: bytes | AsyncIterator[bytes], content_type: str) -> OpenAIModel:
    async def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": content_type}, content=body)

    return OpenAIModel(
        "mock",
        base_url="http://127.0.0.1:9/v1",
        retry=RetryPolicy(max_attempts=1),
        breaker=CircuitBreaker(failure_threshold=1),
        transport=httpx.MockTransport(handler),
    )


def _stream(model: OpenAIModel) -> list[ModelEvent]:
    async def main() -> list[ModelEvent]:
        return [e async for e in model.stream([Message.user("hi")])]

    return anyio.run(main)


def _sse(*chunks: object) -> bytes:
    lines = [f"data: {json.dumps(c, ensure_ascii=False)}\n\n" for c in chunks]
    return ("".join(lines) + "data: [DONE]\n\n").encode()


def _delta(text: str) -> dict[str, object]:
    return {"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]}


def test_line_separators_inside_json_strings_do_not_split_a_chunk() -> None:
    # serde_json and pydantic write U+2028, U+0085 and friends unescaped.
    text = "one\u2028two\x85three\x1cfour\u2029"
    events = _stream(_model(_sse(_delta(text), _delta(" end")), "text/event-stream"))
    assert "".join(e.text for e in events if isinstance(e, TextDeltaEvent)) == text + " end"


def test_crlf_and_cr_line_ends_are_sse_line_ends() -> None:
    body = _sse(_delta("a"), _delta("b")).replace(b"\n\n", b"\r\n\r\n", 1).replace(b"\n", b"\r")
    events = _stream(_model(body, "text/event-stream"))
    assert "".join(e.text for e in events if isinstance(e, TextDeltaEvent)) == "ab"


def test_bytes_that_are_not_utf8_become_replacement_characters() -> None:
    body = _sse(_delta("ok")).replace(b"ok", b"o\xff\xfek")
    events = _stream(_model(body, "text/event-stream"))
    assert [e.text for e in events if isinstance(e, TextDeltaEvent)] == ["o\ufffd\ufffdk"]


def test_a_huge_sse_line_is_a_protocol_error() -> None:
    async def body() -> AsyncIterator[bytes]:
        yield b'data: {"choices": [{"delta": {"content": "'
        for _ in range(MAX_LINE_BYTES // 65536 + 2):
            yield b"x" * 65536
        raise AssertionError("read past the line limit")  # pragma: no cover

    model = _model(body(), "text/event-stream")
    with pytest.raises(ModelProtocolError, match="line over"):
        _stream(model)
    assert model.breaker.state == "open"


def test_a_huge_body_is_a_protocol_error() -> None:
    async def body() -> AsyncIterator[bytes]:
        yield b'{"choices": [{"message": {"content": "'
        for _ in range(MAX_BODY_BYTES // 65536 + 2):
            yield b"x" * 65536
        raise AssertionError("read past the body limit")  # pragma: no cover

    model = _model(body(), "application/json")

    async def main() -> ModelResponse:
        return await model.complete([Message.user("hi")])

    with pytest.raises(ModelProtocolError, match="body over"):
        anyio.run(main)


@pytest.mark.parametrize(
    "chunk",
    [
        {"choices": "nope"},
        {"choices": ["nope"]},
        {"choices": [None]},
        {"choices": [{"delta": "nope"}]},
        {"choices": [{"delta": {"tool_calls": [{"index": "x"}]}}]},
        {"choices": [{"delta": {"tool_calls": [{"index": True}]}}]},
        {"choices": [{"delta": {"tool_calls": [{"index": 0, "function": "f"}]}}]},
        {"choices": [{"delta": {"tool_calls": [{"index": 0, "id": 7, "function": {}}]}}]},
        {"choices": [{"delta": {"tool_calls": [{"function": {"name": 5}}]}}]},
        {"choices": [{"delta": {"tool_calls": [{"index": 10**9}]}}]},
        {"choices": [{"delta": {"tool_calls": [{"index": -1}]}}]},
    ],
)
def test_malformed_chunks_are_protocol_errors(chunk: dict[str, object]) -> None:
    with pytest.raises(ModelProtocolError):
        _stream(_model(_sse(chunk), "text/event-stream"))


@pytest.mark.parametrize("body", ['{"a": NaN}', '{"a": Infinity}', "[" * 100_000 + "]" * 100_000])
def test_json_that_is_not_strict_json_is_a_protocol_error(body: str) -> None:
    with pytest.raises(ModelProtocolError, match="malformed JSON"):
        parse_json(body, "fuzz")


def test_object_arguments_are_sent_on_as_json() -> None:
    call = {"index": 0, "function": {"name": "calculator", "arguments": {"expression": "1"}}}
    events = _stream(
        _model(_sse({"choices": [{"delta": {"tool_calls": [call]}}]}), "text/event-stream")
    )
    calls = [e.call for e in events if isinstance(e, ToolCallEvent)]
    assert [c.function.arguments for c in calls] == ['{"expression": "1"}']


def test_too_many_tool_calls_is_a_protocol_error() -> None:
    calls = [{"index": i, "function": {"name": "f"}} for i in range(MAX_TOOL_CALLS + 1)]
    with pytest.raises(ModelProtocolError, match="out of range"):
        _stream(_model(_sse({"choices": [{"delta": {"tool_calls": calls}}]}), "text/event-stream"))


class _AlwaysDeep:
    def route(self, context: RouteContext) -> Decision:
        return Decision("deep", {}, ("test: deep",))

    def should_escalate(self, context: RouteContext, stats: StreamSignals) -> Decision | None:
        return None


@pytest.mark.parametrize(
    "arguments", ["not json", "[" * 100_000, '{"expression": "6*7"', '"a string"', "{}" * 3]
)
def test_tool_arguments_that_are_not_json_reach_the_model_as_a_typed_result(
    arguments: str,
) -> None:
    call = {"index": 0, "id": "c1", "function": {"name": "calculator", "arguments": arguments}}
    chunk = {"choices": [{"index": 0, "delta": {"tool_calls": [call]}, "finish_reason": None}]}
    first = _sse(chunk)
    second = _sse(_delta("Sorry, I sent bad arguments."))
    bodies = [first, second]

    async def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, headers={"content-type": "text/event-stream"}, content=bodies.pop(0)
        )

    deep = OpenAIModel(
        "mock", base_url="http://127.0.0.1:9/v1", transport=httpx.MockTransport(handler)
    )
    agent = Agent(tools=[calculator], fast=ScriptedModel(["fast"]), deep=deep, router=_AlwaysDeep())
    result = Runner.run_sync(agent, "compute", budget_ms=5000)
    assert result.outcome == "ok", (result.error, result.reasons)
    assert result.text == "Sorry, I sent bad arguments."


def test_a_tool_call_event_keeps_arguments_verbatim() -> None:
    call = {"index": 0, "id": "c1", "function": {"name": "calculator", "arguments": "not json"}}
    chunk = {"choices": [{"index": 0, "delta": {"tool_calls": [call]}}]}
    events = _stream(_model(_sse(chunk), "text/event-stream"))
    calls = [e.call for e in events if isinstance(e, ToolCallEvent)]
    assert [c.function.arguments for c in calls] == ["not json"]


def test_keepalive_comments_do_not_postpone_the_first_token_timeout() -> None:
    async def body() -> AsyncIterator[bytes]:
        while True:  # a proxy that pings but never answers
            yield b": keepalive\n\n"
            await anyio.sleep(0.02)

    async def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body())

    model = OpenAIModel(
        "mock",
        base_url="http://127.0.0.1:9/v1",
        retry=RetryPolicy(max_attempts=1),
        timeouts=Timeouts(first_token_s=0.2),
        transport=httpx.MockTransport(handler),
    )

    async def main() -> float:
        start = anyio.current_time()
        with pytest.raises(ModelUnavailableError, match="first token"):
            async for _ in model.stream([Message.user("hi")], deadline=time.monotonic() + 5.0):
                pass
        return anyio.current_time() - start

    assert anyio.run(main) < 2.0


def test_lone_surrogates_in_the_conversation_are_sent_as_valid_utf8() -> None:
    sent: list[bytes] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request.content)
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=_sse())

    model = OpenAIModel(
        "mock", base_url="http://127.0.0.1:9/v1", transport=httpx.MockTransport(handler)
    )
    messages = [Message.user("hi"), Message.tool("c1", "file name: caf\udce9.txt")]

    async def main() -> None:
        async for _ in model.stream(messages):
            pass

    anyio.run(main)
    body = json.loads(sent[0].decode("utf-8"))  # strict UTF-8: no surrogate escapes left
    assert body["messages"][1]["content"] == "file name: caf\ufffd.txt"


def test_an_endless_stream_of_fragments_is_cut_at_the_stream_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_openai_io, "MAX_STREAM_BYTES", 200_000)
    call = {"index": 0, "function": {"name": "calculator", "arguments": "x" * 1000}}
    line = f"data: {json.dumps({'choices': [{'delta': {'tool_calls': [call]}}]})}\n\n".encode()

    async def body() -> AsyncIterator[bytes]:
        for _ in range(1000):  # 1 MB of argument fragments, 5x the limit
            yield line
        raise AssertionError("read past the stream limit")  # pragma: no cover

    with pytest.raises(ModelProtocolError, match="stream over"):
        _stream(_model(body(), "text/event-stream"))
