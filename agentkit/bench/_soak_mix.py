"""The soak benchmark's request mix: good, bad, cancelled and disconnected requests.

Every request kind is a function that sends one request and returns an
`Outcome`. `Deck` deals kinds in seeded shuffles of a fixed multiset, so every
kind occurs in every run of ``len(KINDS)`` requests (the first deck shows every
status the mix can produce) and a run's mix depends on its seed alone.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

import httpx

__all__ = ["KINDS", "Deck", "Outcome", "RequestKind", "SoakTarget", "send"]

Group = Literal["good", "bad", "cancelled", "disconnected"]

_PROMPTS = (
    "What is the capital of France?",
    "Write one sentence about the sea.",
    "My order #1234 has not arrived. What should I do?",
    "List three colours.",
    "Say hello in Spanish.",
)
# Long enough that prefill alone outlasts a hang-up's linger: the server always
# sees the client gone before it could answer (one status, one metrics series).
_LONG_PROMPT = "Summarise this report in one line. " + "The quarterly numbers were flat. " * 60
_LONG_STOP = "x" * 1000  # over the server's per-stop cap (400 characters)
_BAD_SEEDS = (2**64, 2**63, -1)  # the server takes 0 <= seed < 2**63


@dataclass(frozen=True)
class SoakTarget:
    """Where the requests go.

    Attributes:
        base_url: ``http://127.0.0.1:PORT`` (no ``/v1``).
        model: The served model id.
        host: The server's host, for raw sockets.
        port: The server's port.
    """

    base_url: str
    model: str
    host: str
    port: int


@dataclass(frozen=True)
class Outcome:
    """One request's result.

    Attributes:
        kind: The request kind's name.
        group: ``good``, ``bad``, ``cancelled`` or ``disconnected``.
        started_s: Start time, seconds from the start of the run.
        latency_s: Start to end (to ``[DONE]`` for streams, to the abort otherwise).
        status: The HTTP status; None when no response was awaited (disconnects).
        ok: Whether the kind's expectation held (good: 200 and complete; bad: 4xx).
        server_error: A 5xx status, or an in-stream error of type ``server_error``.
        detail: Why ``ok`` is False (empty otherwise).
    """

    kind: str
    group: Group
    started_s: float
    latency_s: float
    status: int | None
    ok: bool
    server_error: bool
    detail: str = ""


_Sender = Callable[
    [httpx.AsyncClient, SoakTarget, random.Random], Awaitable[tuple[int | None, str]]
]


@dataclass(frozen=True)
class RequestKind:
    """A named way of sending one request, in a group, dealt ``copies`` times per deck."""

    name: str
    group: Group
    copies: int
    send: _Sender


def _chat_body(target: SoakTarget, rng: random.Random, **extra: Any) -> dict[str, Any]:
    return {
        "model": target.model,
        "messages": [{"role": "user", "content": rng.choice(_PROMPTS)}],
        "max_tokens": rng.randint(4, 16),
        "temperature": 0.7,
        "seed": rng.randrange(2**31),
        **extra,
    }


def _text_body(target: SoakTarget, rng: random.Random, **extra: Any) -> dict[str, Any]:
    body = _chat_body(target, rng, **extra)
    body["prompt"] = body.pop("messages")[0]["content"]
    return body


async def _post_whole(client: httpx.AsyncClient, path: str, body: Any) -> tuple[int, str]:
    """POST a JSON body (or raw bytes); status and the error text of a non-200."""
    if isinstance(body, bytes):
        headers = {"content-type": "application/json"}
        resp = await client.post(path, content=body, headers=headers)
    else:
        resp = await client.post(path, json=body)
    return resp.status_code, "" if resp.status_code == 200 else resp.text[:200]


async def _post_stream(
    client: httpx.AsyncClient, path: str, body: dict[str, Any], abort_after_first: bool = False
) -> tuple[int, str]:
    """Stream to ``[DONE]`` (or abort after the first data event); an in-band error is detail."""
    async with client.stream("POST", path, json=body) as resp:
        if resp.status_code != 200:
            await resp.aread()
            return resp.status_code, resp.text[:200]
        async for line in resp.aiter_lines():
            if not line.startswith("data: "):
                continue
            data = line.removeprefix("data: ")
            if data == "[DONE]":
                return 200, ""
            if '"error"' in data and "error" in json.loads(data):
                return 200, "stream error: " + data[:200]
            if abort_after_first:
                return 200, ""  # leaving the block closes the connection mid-stream
        return 200, "stream ended without [DONE]"


async def _good_chat(c: httpx.AsyncClient, t: SoakTarget, r: random.Random) -> tuple[int, str]:
    return await _post_whole(c, "/v1/chat/completions", _chat_body(t, r))


async def _good_chat_stream(
    c: httpx.AsyncClient, t: SoakTarget, r: random.Random
) -> tuple[int, str]:
    body = _chat_body(t, r, stream=True, stream_options={"include_usage": True})
    return await _post_stream(c, "/v1/chat/completions", body)


async def _good_text(c: httpx.AsyncClient, t: SoakTarget, r: random.Random) -> tuple[int, str]:
    return await _post_whole(c, "/v1/completions", _text_body(t, r))


async def _good_text_stream(
    c: httpx.AsyncClient, t: SoakTarget, r: random.Random
) -> tuple[int, str]:
    return await _post_stream(c, "/v1/completions", _text_body(t, r, stream=True))


async def _malformed(c: httpx.AsyncClient, t: SoakTarget, r: random.Random) -> tuple[int, str]:
    body = json.dumps(_chat_body(t, r)).encode()
    return await _post_whole(c, "/v1/chat/completions", body[: r.randrange(1, len(body) - 1)])


async def _wrong_types(c: httpx.AsyncClient, t: SoakTarget, r: random.Random) -> tuple[int, str]:
    field, value = r.choice((("messages", "hi"), ("max_tokens", "8"), ("temperature", [1])))
    return await _post_whole(c, "/v1/chat/completions", _chat_body(t, r, **{field: value}))


async def _long_stop(c: httpx.AsyncClient, t: SoakTarget, r: random.Random) -> tuple[int, str]:
    return await _post_whole(c, "/v1/chat/completions", _chat_body(t, r, stop=[_LONG_STOP]))


async def _bad_seed(c: httpx.AsyncClient, t: SoakTarget, r: random.Random) -> tuple[int, str]:
    return await _post_whole(c, "/v1/completions", _text_body(t, r, seed=r.choice(_BAD_SEEDS)))


async def _huge_max(c: httpx.AsyncClient, t: SoakTarget, r: random.Random) -> tuple[int, str]:
    body = _chat_body(t, r, max_tokens=10 ** r.randint(6, 30))
    return await _post_whole(c, "/v1/chat/completions", body)


async def _no_model(c: httpx.AsyncClient, t: SoakTarget, r: random.Random) -> tuple[int, str]:
    return await _post_whole(c, "/v1/chat/completions", _chat_body(t, r, model="no-such-model"))


async def _no_card(c: httpx.AsyncClient, t: SoakTarget, r: random.Random) -> tuple[int, str]:
    """A fresh path each time: metrics labelled by path would grow a series per request."""
    resp = await c.get(f"/v1/models/soak-{r.randrange(2**32):08x}")
    return resp.status_code, "" if 400 <= resp.status_code < 500 else resp.text[:200]


async def _cancel(c: httpx.AsyncClient, t: SoakTarget, r: random.Random) -> tuple[int, str]:
    body = _chat_body(t, r, max_tokens=64, stream=True)
    return await _post_stream(c, "/v1/chat/completions", body, abort_after_first=True)


async def _raw(t: SoakTarget, payload: bytes, linger_s: float) -> tuple[int | None, str]:
    """Write ``payload`` on a fresh connection, wait ``linger_s``, close without reading."""
    _, writer = await asyncio.open_connection(t.host, t.port)
    try:
        writer.write(payload)
        await writer.drain()
        await asyncio.sleep(linger_s)
    finally:
        writer.close()
        await writer.wait_closed()
    return None, ""


def _request_bytes(t: SoakTarget, path: str, body: bytes, declared: int) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {t.host}:{t.port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {declared}\r\n\r\n"
    )
    return head.encode() + body


async def _cut_body(
    c: httpx.AsyncClient, t: SoakTarget, r: random.Random
) -> tuple[int | None, str]:
    """Close the socket halfway through the body the headers announced."""
    body = json.dumps(_chat_body(t, r)).encode()
    payload = _request_bytes(t, "/v1/chat/completions", body[: len(body) // 2], len(body))
    return await _raw(t, payload, 0.02)


async def _hang_up(c: httpx.AsyncClient, t: SoakTarget, r: random.Random) -> tuple[int | None, str]:
    """Send a whole request, then close the socket while the server generates."""
    fields = _text_body(t, r, max_tokens=64)
    body = json.dumps({**fields, "prompt": _LONG_PROMPT + fields["prompt"]}).encode()
    payload = _request_bytes(t, "/v1/completions", body, len(body))
    return await _raw(t, payload, r.uniform(0.03, 0.08))


KINDS: tuple[RequestKind, ...] = (
    RequestKind("chat", "good", 2, _good_chat),
    RequestKind("chat_stream", "good", 2, _good_chat_stream),
    RequestKind("completion", "good", 2, _good_text),
    RequestKind("completion_stream", "good", 2, _good_text_stream),
    RequestKind("malformed_json", "bad", 1, _malformed),
    RequestKind("wrong_types", "bad", 1, _wrong_types),
    RequestKind("long_stop", "bad", 1, _long_stop),
    RequestKind("bad_seed", "bad", 1, _bad_seed),
    RequestKind("huge_max_tokens", "bad", 1, _huge_max),
    RequestKind("unknown_model", "bad", 1, _no_model),
    RequestKind("unknown_model_card", "bad", 1, _no_card),
    RequestKind("cancel_mid_stream", "cancelled", 2, _cancel),
    RequestKind("disconnect_mid_body", "disconnected", 1, _cut_body),
    RequestKind("disconnect_while_generating", "disconnected", 1, _hang_up),
)


class Deck:
    """Deals request kinds: each deck is a seeded shuffle holding every kind ``copies`` times.

    Attributes:
        kinds: The kinds dealt.
    """

    def __init__(self, rng: random.Random, kinds: tuple[RequestKind, ...] = KINDS) -> None:
        self._rng = rng
        self.kinds = kinds
        self._cards = [k for k in kinds for _ in range(k.copies)]
        self._hand: list[RequestKind] = []

    def deal(self) -> RequestKind:
        """The next kind (a new shuffle once the deck is used up)."""
        if not self._hand:
            self._hand = self._cards.copy()
            self._rng.shuffle(self._hand)
        return self._hand.pop()


def _judge(kind: RequestKind, status: int | None, detail: str) -> tuple[bool, bool, str]:
    """(expectation held, server error, why not) for one answered request."""
    server_error = (status is not None and status >= 500) or '"server_error"' in detail
    if kind.group == "bad":
        ok = status is not None and 400 <= status < 500
        return ok, server_error, "" if ok else f"expected a 4xx, got {status}: {detail}"
    ok = kind.group == "disconnected" or (status == 200 and not detail)
    return ok, server_error, "" if ok else f"{status}: {detail}"


async def send(
    kind: RequestKind, client: httpx.AsyncClient, target: SoakTarget, rng: random.Random, t0: float
) -> Outcome:
    """Send one request of ``kind``; transport failures become a failed `Outcome`, not errors."""
    start = time.perf_counter()
    try:
        status, detail = await kind.send(client, target, rng)
    except (httpx.HTTPError, OSError, ValueError) as exc:
        status, detail = None, f"{type(exc).__name__}: {exc}"[:200]
        ok, server_error = False, False
    else:
        ok, server_error, detail = _judge(kind, status, detail)
    return Outcome(
        kind.name, kind.group, start - t0, time.perf_counter() - start, status, ok, server_error,
        detail,
    )  # fmt: skip
