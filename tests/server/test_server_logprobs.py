"""Log-probabilities and ``n`` choices through the official ``openai`` client, on the real engine.

The default model serves on 127.0.0.1 (default suite: short generations).
Log-probabilities are the engine's raw distribution, so: every logprob <= 0,
the chosen token's equals its own entry among the alternatives, greedy
decoding picks the most likely one, the tokens' bytes spell the text, and a
server with speculation on reports exactly what one with it off reports.
Choices: distinct indices, seeds ``seed + i`` (each choice equals the single
request with that seed), usage sums, streamed choices carry their index, and
the prompt is prefilled once for all of them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from _server_doubles import wait_until

from agentkit._engine_model import EngineModel
from agentkit.server import ServerThread, create_app
from agentkit.server._engine_backend import EngineTextBackend

MODEL = "smollm2"
COUNTING = "1, 2, 3, 4, 5, 1, 2, 3, 4, 5, 1, 2, 3,"  # repeats: n-gram drafts get accepted


def _load(speculation: bool) -> Any:
    from engine import Engine

    return Engine.load("default", threads=2, max_slots=4, max_seq_len=512, speculation=speculation)


@pytest.fixture(scope="module")
def engines() -> Iterator[tuple[Any, Any]]:
    spec, plain = _load(True), _load(False)
    yield spec, plain
    spec.close()
    plain.close()


@pytest.fixture(scope="module")
def servers(engines: tuple[Any, Any]) -> Iterator[tuple[openai.OpenAI, openai.OpenAI]]:
    apps = [
        create_app(EngineModel(e, name=MODEL), text=EngineTextBackend(e, MODEL)) for e in engines
    ]
    with ServerThread(apps[0]) as spec, ServerThread(apps[1]) as plain:
        yield tuple(  # type: ignore[misc]
            openai.OpenAI(base_url=s.url + "/v1", api_key="x", max_retries=0, timeout=120)
            for s in (spec, plain)
        )


@pytest.fixture(scope="module")
def client(servers: tuple[openai.OpenAI, openai.OpenAI]) -> openai.OpenAI:
    return servers[0]


def _chat(client: openai.OpenAI, content: str, **extra: Any) -> Any:
    messages = [{"role": "user", "content": content}]
    return client.chat.completions.create(model=MODEL, messages=messages, **extra)  # type: ignore[arg-type]


def _check_entries(content: list[Any], text: str, k: int, greedy: bool) -> None:
    assert content, "logprobs asked for, none reported"
    assert bytes(b for e in content for b in e.bytes).decode() == text  # exact bytes spell it
    for e in content:
        assert e.logprob <= 0 and len(e.top_logprobs) == k
        assert bytes(e.bytes).decode("utf-8", "backslashreplace") == e.token
        mine = [t for t in e.top_logprobs if t.token == e.token]
        assert all(t.logprob == e.logprob for t in mine)  # the same number, not merely close
        assert [t.logprob for t in e.top_logprobs] == sorted(
            (t.logprob for t in e.top_logprobs), reverse=True
        )
        if greedy and k:
            assert e.top_logprobs[0].token == e.token and e.top_logprobs[0].logprob == e.logprob


# ---- logprobs ---------------------------------------------------------------------------


def test_chat_logprobs_whole_and_streamed(client: openai.OpenAI) -> None:
    ask = {"max_tokens": 8, "temperature": 0, "logprobs": True, "top_logprobs": 4}
    reply = _chat(client, "Say hi in French", **ask)
    choice = reply.choices[0]
    assert choice.logprobs is not None and choice.logprobs.content is not None
    _check_entries(choice.logprobs.content, choice.message.content, k=4, greedy=True)
    assert len(choice.logprobs.content) == reply.usage.completion_tokens - (
        choice.finish_reason == "stop"  # EOS ends it and has no entry
    )
    streamed, text = [], ""
    for chunk in _chat(client, "Say hi in French", stream=True, **ask):
        for c in chunk.choices:
            text += c.delta.content or ""
            if c.logprobs is not None and c.logprobs.content:
                streamed += c.logprobs.content
    assert text == choice.message.content
    assert [e.model_dump() for e in streamed] == [e.model_dump() for e in choice.logprobs.content]
    only_chosen = _chat(client, "Say hi in French", max_tokens=8, temperature=0, logprobs=True)
    assert [(e.token, e.logprob) for e in only_chosen.choices[0].logprobs.content] == [
        (e.token, e.logprob) for e in choice.logprobs.content
    ]
    assert all(e.top_logprobs == [] for e in only_chosen.choices[0].logprobs.content)
    assert _chat(client, "Say hi", max_tokens=2).choices[0].logprobs is None  # not asked


def test_completion_logprobs_shape(client: openai.OpenAI) -> None:
    reply = client.completions.create(
        model=MODEL, prompt=COUNTING, max_tokens=8, temperature=0, logprobs=3
    )
    choice = reply.choices[0]
    lp = choice.logprobs
    assert lp is not None and lp.tokens and lp.token_logprobs and lp.top_logprobs
    assert "".join(lp.tokens) == choice.text  # ASCII: token strings spell the text
    offsets, at = [], 0
    for token in lp.tokens:
        offsets.append(at)
        at += len(token)
    assert lp.text_offset == offsets
    for token, logprob, top in zip(lp.tokens, lp.token_logprobs, lp.top_logprobs, strict=True):
        assert logprob <= 0 and top[token] == logprob  # the chosen token is always listed
        assert len(top) <= 4 and max(top.values()) == logprob  # greedy: it is the most likely
    streamed = client.completions.create(
        model=MODEL, prompt=COUNTING, max_tokens=8, temperature=0, logprobs=3, stream=True
    )
    tokens, offsets = [], []
    for chunk in streamed:
        for c in chunk.choices:
            if c.logprobs is not None:
                tokens += c.logprobs.tokens or []
                offsets += c.logprobs.text_offset or []
    assert (tokens, offsets) == (lp.tokens, lp.text_offset)  # offsets run on across chunks


def test_speculation_on_and_off_report_the_same_logprobs(
    servers: tuple[openai.OpenAI, openai.OpenAI],
) -> None:
    """Accepted drafts' logprobs are the target's: equal to plain decoding, bit for bit."""
    replies = [
        c.completions.create(model=MODEL, prompt=COUNTING, max_tokens=16, temperature=0, logprobs=5)
        for c in servers
    ]
    spec, plain = ((r.model_extra or {})["speculative"] for r in replies)
    assert spec["accepted"] > 0 and plain["drafted"] == 0  # speculation really ran on one
    a, b = (r.choices[0] for r in replies)
    assert a.logprobs is not None and b.logprobs is not None
    assert a.text == b.text and a.logprobs.model_dump() == b.logprobs.model_dump()
    chats = [
        _chat(c, "Count: 1, 2, 3, 1, 2, 3, 1, 2,", max_tokens=12, temperature=0, logprobs=True,
              top_logprobs=5)
        for c in servers
    ]  # fmt: skip
    x, y = (r.choices[0].logprobs.model_dump() for r in chats)
    assert x == y


# ---- n choices --------------------------------------------------------------------------


def test_choices_are_the_seeded_single_requests_and_usage_sums(
    client: openai.OpenAI, engines: tuple[Any, Any]
) -> None:
    prompt = "Invent a name for a purple zebra who collects spoons"  # fresh: no cached prefix
    ask = {"max_tokens": 6, "temperature": 1.0, "seed": 41}
    stats = engines[0].scheduler.stats().prefix
    both = _chat(client, prompt, n=3, logprobs=True, **ask)
    after = engines[0].scheduler.stats().prefix
    assert [c.index for c in both.choices] == [0, 1, 2]
    singles = [_chat(client, prompt, logprobs=True, **{**ask, "seed": 41 + i}) for i in range(3)]
    for choice, single in zip(both.choices, singles, strict=True):
        assert choice.message.content == single.choices[0].message.content
        assert choice.logprobs.model_dump() == single.choices[0].logprobs.model_dump()
    assert len({c.message.content for c in both.choices}) > 1  # seeds differ: choices differ
    assert both.usage.prompt_tokens == singles[0].usage.prompt_tokens  # the prompt once
    assert both.usage.completion_tokens == sum(s.usage.completion_tokens for s in singles)
    again = _chat(client, prompt, n=3, logprobs=True, **ask)
    assert [c.message.content for c in again.choices] == [c.message.content for c in both.choices]
    # one prefill: choices 1 and 2 copied the first one's prompt K/V (all but its last token)
    saved = after.tokens_saved - stats.tokens_saved
    assert saved >= 2 * (both.usage.prompt_tokens - 1)


def test_streamed_choices_carry_their_index(client: openai.OpenAI) -> None:
    prompt = "Name a fruit"
    ask: dict[str, Any] = {"max_tokens": 5, "temperature": 1.0, "seed": 7}
    whole = _chat(client, prompt, n=2, **ask)
    texts, finished, roles, usage = ["", ""], [None, None], [0, 0], None
    for chunk in _chat(
        client, prompt, n=2, stream=True, stream_options={"include_usage": True}, **ask
    ):
        if chunk.usage is not None:
            usage = chunk.usage
        for c in chunk.choices:
            roles[c.index] += c.delta.role == "assistant"
            texts[c.index] += c.delta.content or ""
            if c.finish_reason is not None:
                assert finished[c.index] is None  # one finish per choice
                finished[c.index] = c.finish_reason
    assert roles == [1, 1] and None not in finished
    assert texts == [c.message.content for c in whole.choices]
    assert usage is not None and usage.completion_tokens == whole.usage.completion_tokens
    text = client.completions.create(model=MODEL, prompt="The sky is", n=2, **ask)
    assert [c.index for c in text.choices] == [0, 1]


def test_a_disconnected_n_request_frees_every_slot(
    client: openai.OpenAI, engines: tuple[Any, Any]
) -> None:
    body = {"model": MODEL, "prompt": "Once upon a time", "max_tokens": 300, "n": 3,
            "stream": True}  # fmt: skip
    url = str(client.base_url).rstrip("/") + "/completions"
    with httpx.stream("POST", url, json=body, timeout=60) as resp:
        first = next(line for line in resp.iter_lines() if line)
        assert json.loads(first[6:])["choices"][0]["index"] in (0, 1, 2)
    eng = engines[0]
    assert wait_until(lambda: eng.cache.free_slots == eng.cache.n_slots, timeout_s=15)
