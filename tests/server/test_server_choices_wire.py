"""``n``, ``logprobs`` and ``top_logprobs`` on the wire, over test doubles (fast).

A double that streams chosen text deltas with chosen `LogprobEntry` items
shows what the server does with them: which entries survive a stop string,
the OpenAI shapes (bytes, -inf, text offsets of split characters), the seeds
of the choices, and the OpenAI-shaped 400s for values it refuses.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx
import openai
import pytest

from agentkit import Message, SamplingSettings, ScriptedModel
from agentkit._messages import ToolSchema, Usage
from agentkit._model import (
    FinishEvent,
    LogprobEntry,
    ModelEvent,
    ModelResponse,
    TextDeltaEvent,
    UsageEvent,
)
from agentkit.server import ServerConfig, create_app

MODEL = "deltas"
Delta = tuple[str, tuple[LogprobEntry, ...] | None]


def entry(token: str, logprob: float, raw: bytes | None = None) -> LogprobEntry:
    """An entry whose alternatives are itself and a worse token."""
    data = tuple(raw if raw is not None else token.encode())
    other = LogprobEntry(token="~", logprob=logprob - 1.0, token_bytes=(126,))
    me = LogprobEntry(token=token, logprob=logprob, token_bytes=data)
    return LogprobEntry(token=token, logprob=logprob, token_bytes=data, top_logprobs=(me, other))


class DeltasModel:
    """Streams the same deltas (text and logprob entries) for every call; records settings."""

    def __init__(self, deltas: Sequence[Delta]) -> None:
        self.deltas = list(deltas)
        self.settings: list[SamplingSettings] = []

    @property
    def name(self) -> str:
        return MODEL

    async def stream(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSchema] = (),
        settings: SamplingSettings | None = None,
        deadline: float | None = None,
    ) -> AsyncIterator[ModelEvent]:
        self.settings.append(settings or SamplingSettings())
        for text, logprobs in self.deltas:
            yield TextDeltaEvent(text=text, logprobs=logprobs)
        yield UsageEvent(usage=Usage(prompt_tokens=3, completion_tokens=len(self.deltas)))
        yield FinishEvent(reason="stop")

    async def complete(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSchema] = (),
        settings: SamplingSettings | None = None,
        deadline: float | None = None,
    ) -> ModelResponse:
        text = "".join(t for t, _ in self.deltas)
        return ModelResponse(message=Message.assistant(text), model=MODEL)


E = [entry("Hello", -0.5), entry(" wor", -1.0), entry("ld", -0.1), entry(" ST", -0.2),
     entry("OP", -0.3), entry(" more", -2.0)]  # fmt: skip
STOPPED = [("Hello", (E[0],)), (" wor", (E[1],)), ("ld STOP", (E[2], E[3], E[4])),
           (" more", (E[5],))]  # fmt: skip


def _client(serve: Any, model: Any, **config: Any) -> openai.OpenAI:
    srv = serve(create_app(model, config=ServerConfig(model_id=MODEL, **config)))
    return openai.OpenAI(base_url=srv.url + "/v1", api_key="x", max_retries=0)


def _chat(client: openai.OpenAI, **extra: Any) -> Any:
    messages = [{"role": "user", "content": "hi"}]
    return client.chat.completions.create(model=MODEL, messages=messages, **extra)  # type: ignore[arg-type]


def test_entries_of_text_cut_by_a_stop_are_not_reported(serve: Any) -> None:
    client = _client(serve, DeltasModel(STOPPED))
    reply = _chat(client, stop=["STOP"], logprobs=True, top_logprobs=2)
    choice = reply.choices[0]
    assert choice.message.content == "Hello world "
    # the delta that starts before the cut keeps its entries (the stop's own tokens too,
    # as vLLM reports them); the one after it has none
    assert [e.token for e in choice.logprobs.content] == ["Hello", " wor", "ld", " ST", "OP"]
    streamed = []
    for chunk in _chat(client, stop=["STOP"], logprobs=True, top_logprobs=2, stream=True):
        for c in chunk.choices:
            streamed += [e.token for e in (c.logprobs.content or [])] if c.logprobs else []
    assert streamed == ["Hello", " wor", "ld", " ST", "OP"]
    # the last delta of the engine may carry only the entries of tokens a stop cut: dropped
    tail = DeltasModel([("Hi", (E[0],)), ("", (E[3], E[4]))])
    out = _chat(_client(serve, tail), logprobs=True)
    assert [e.token for e in out.choices[0].logprobs.content] == ["Hello"]


def test_shapes_bytes_infinity_and_offsets_of_split_characters(serve: Any) -> None:
    split = [("a", (entry("a", -0.1),)), ("", (entry("\\xe2\\x86", float("-inf"), b"\xe2\x86"),)),
             ("→b", (entry("\\x92b", -0.3, b"\x92b"),))]  # fmt: skip
    client = _client(serve, DeltasModel(split))
    chat = _chat(client, logprobs=True, top_logprobs=1).choices[0]
    content = chat.logprobs.content
    assert [e.bytes for e in content] == [[97], [0xE2, 0x86], [0x92, 98]]
    assert bytes(b for e in content for b in e.bytes).decode() == chat.message.content == "a→b"
    assert content[1].logprob == -9999.0  # JSON has no -inf: vLLM's floor
    assert content[1].top_logprobs[0].logprob == -9999.0
    lp = client.completions.create(model=MODEL, prompt="x", logprobs=1).choices[0].logprobs
    assert lp is not None and lp.top_logprobs is not None
    assert lp.text_offset == [0, 1, 1]  # the split arrow starts at offset 1
    assert lp.tokens == ["a", "\\xe2\\x86", "\\x92b"]
    assert lp.top_logprobs[0] == {"a": -0.1, "~": pytest.approx(-1.1)}
    none = client.completions.create(model=MODEL, prompt="x").choices[0]
    assert none.logprobs is None


def test_choice_settings_seeds_and_logprob_counts(serve: Any) -> None:
    model = DeltasModel([("ok", None)])
    client = _client(serve, model)
    reply = _chat(client, n=3, seed=5, temperature=1.0)
    assert [c.index for c in reply.choices] == [0, 1, 2]
    assert reply.usage.completion_tokens == 3 and reply.usage.prompt_tokens == 3  # summed; once
    assert sorted(s.seed or 0 for s in model.settings) == [5, 6, 7]
    model.settings.clear()
    _chat(client, n=2, seed=2**63 - 1)
    assert sorted(s.seed or 0 for s in model.settings) == [0, 2**63 - 1]  # wraps at 2^63
    model.settings.clear()
    _chat(client, n=2)
    _chat(client, logprobs=True)
    _chat(client, logprobs=True, top_logprobs=20)
    client.completions.create(model=MODEL, prompt="x", logprobs=5)
    client.completions.create(model=MODEL, prompt="x", logprobs=0)
    seen = [(s.seed, s.top_logprobs) for s in model.settings]
    assert seen == [(None, None), (None, None), (None, 0), (None, 20), (None, 5), (None, 0)]
    # a backend that reports no logprobs: null, as before
    plain = _client(serve, ScriptedModel(["a", "b"], name=MODEL))
    reply = _chat(plain, n=2, logprobs=True)
    assert [(c.index, c.logprobs) for c in reply.choices] == [(0, None), (1, None)]


BAD = [
    ("/chat/completions", {"n": 9}, "n"),
    ("/chat/completions", {"n": 0}, "n"),
    ("/chat/completions", {"n": "2"}, "n"),
    ("/chat/completions", {"top_logprobs": 21, "logprobs": True}, "top_logprobs"),
    ("/chat/completions", {"top_logprobs": -1, "logprobs": True}, "top_logprobs"),
    ("/chat/completions", {"top_logprobs": 2}, "top_logprobs"),  # needs logprobs: true
    ("/chat/completions", {"top_logprobs": 2, "logprobs": False}, "top_logprobs"),
    ("/chat/completions", {"logprobs": "yes"}, "logprobs"),
    ("/chat/completions", {"logprobs": 3}, "logprobs"),  # chat's is a boolean
    ("/completions", {"logprobs": 6}, "logprobs"),
    ("/completions", {"logprobs": -1}, "logprobs"),
    ("/completions", {"logprobs": True}, "logprobs"),  # completions' is an integer
    ("/completions", {"logprobs": 1, "echo": True}, "echo"),
    ("/completions", {"n": 9}, "n"),
]


@pytest.mark.parametrize(("path", "extra", "param"), BAD)
def test_refused_values_are_openai_shaped_400s(
    serve: Any, path: str, extra: dict[str, Any], param: str
) -> None:
    client = _client(serve, DeltasModel([("ok", None)]))
    body: dict[str, Any] = {"model": MODEL, **extra}
    body.update(
        {"messages": [{"role": "user", "content": "hi"}]} if "chat" in path else {"prompt": "x"}
    )
    with pytest.raises(openai.BadRequestError) as info:
        client.post(path, body=body, cast_to=httpx.Response)
    err = info.value
    assert (err.status_code, err.param, err.type) == (400, param, "invalid_request_error")
    assert isinstance(err.message, str) and err.message


def test_max_n_is_configured(serve: Any) -> None:
    client = _client(serve, DeltasModel([("ok", None)]), max_n=2)
    assert len(_chat(client, n=2).choices) == 2
    with pytest.raises(openai.BadRequestError) as info:
        _chat(client, n=3)
    assert info.value.param == "n" and "at most 2" in info.value.message
