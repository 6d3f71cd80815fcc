"""A fault-injecting OpenAI-compatible endpoint on loopback, for tests and benchmarks.

It answers ``POST /v1/chat/completions`` (streamed or not) with a fixed reply,
and injects what a real deep tier does on a bad day: 5xx at a given rate,
periodic 429 storms with ``Retry-After``, stalls, HTML error pages, malformed
JSON, streams that break mid-way. Faults come from a scripted queue first
(one per request, for tests), then from the rates (for benchmarks).

Needs the ``server`` extra (starlette and uvicorn).

Example:
    >>> import httpx
    >>> body = {"model": "any", "messages": [{"role": "user", "content": "hi"}]}
    >>> with serve_faults(FaultPlan(queue=["503"], reply="Hello.")) as server:
    ...     url = server.base_url + "/chat/completions"
    ...     first, second = httpx.post(url, json=body), httpx.post(url, json=body)
    >>> first.status_code, second.json()["choices"][0]["message"]["content"], server.faults
    (503, 'Hello.', ['503', 'ok'])
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from agentkit._errors import ConfigError

__all__ = ["FAULTS", "FaultPlan", "FaultServer", "serve_faults"]

FAULTS = ("ok", "500", "502", "503", "429", "html", "badjson", "stall", "break", "tool")
"""Fault names a `FaultPlan.queue` takes: ``ok`` answers normally; ``500``/``502``/``503``
answer that status; ``429`` answers it with ``Retry-After``; ``html`` is an HTML
error page with status 200; ``badjson`` is a truncated JSON body; ``stall`` waits
``stall_s`` first; ``break`` drops a stream after ``break_after`` chunks; ``tool``
answers with a ``calculator`` tool call."""


@dataclass
class FaultPlan:
    """What the server does; change it between requests (reads are per request).

    Attributes:
        reply: The answer text (streamed word by word).
        queue: Scripted faults for the next requests, one each (see ``FAULTS``).
        error_rate: Fraction of other requests answered with a 5xx.
        storm_every: Every this many requests a 429 storm starts (0: never).
        storm_length: Requests per storm.
        retry_after_s: ``Retry-After`` sent with 429s.
        stall_s: How long a ``stall`` waits before answering.
        stall_all: Stall every request (a deep tier that has stopped answering).
        delay_s: Pause between streamed chunks.
        break_after: Chunks sent before a ``break`` drops the connection.
        seed: Seed for the error rate.
        speculative: A ``speculative`` extension object sent with the last chunk.
    """

    reply: str = "The deep tier answers this properly."
    queue: list[str] = field(default_factory=list)
    error_rate: float = 0.0
    storm_every: int = 0
    storm_length: int = 0
    retry_after_s: float = 0.02
    stall_s: float = 30.0
    stall_all: bool = False
    delay_s: float = 0.0
    break_after: int = 2
    seed: int = 0
    speculative: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        unknown = [f for f in self.queue if f not in FAULTS]
        if unknown:
            raise ConfigError("queue", f"unknown faults {unknown}; known: {', '.join(FAULTS)}")
        if not 0.0 <= self.error_rate <= 1.0:
            raise ConfigError("error_rate", f"must be from 0 to 1, got {self.error_rate}")
        if self.storm_every < 0 or not 0 <= self.storm_length <= self.storm_every:
            raise ConfigError(
                "storm_length", "needs 0 <= storm_length <= storm_every (0 turns storms off)"
            )
        for name in ("retry_after_s", "stall_s", "delay_s", "break_after"):
            if not getattr(self, name) >= 0:  # NaN fails too
                raise ConfigError(name, f"must be >= 0, got {getattr(self, name)}")


class _App:
    def __init__(self, plan: FaultPlan) -> None:
        self.plan = plan
        self.requests = 0
        self.bodies: list[dict[str, Any]] = []
        self.faults: list[str] = []
        self._rng = random.Random(plan.seed)

    def _fault(self) -> str:
        plan = self.plan
        if plan.queue:
            return plan.queue.pop(0)
        if plan.stall_all:
            return "stall"
        n = self.requests
        if plan.storm_every and n % plan.storm_every >= plan.storm_every - plan.storm_length:
            return "429"
        if self._rng.random() < plan.error_rate:
            return self._rng.choice(("500", "502", "503"))
        return "ok"

    async def chat(self, request: Request) -> Response:
        body = await request.json()
        self.requests += 1
        self.bodies.append(body)
        fault = self._fault()
        self.faults.append(fault)
        plan = self.plan
        if fault in ("500", "502", "503"):
            return JSONResponse({"error": {"message": "injected"}}, status_code=int(fault))
        if fault == "429":
            headers = {"Retry-After": f"{plan.retry_after_s:g}"}
            return JSONResponse({"error": {"message": "slow down"}}, 429, headers=headers)
        if fault == "html":
            return Response("<html><body>502 Bad Gateway</body></html>", media_type="text/html")
        if fault == "badjson":
            return Response('{"choices": [{"message": ', media_type="application/json")
        if fault == "stall":
            await asyncio.sleep(plan.stall_s)
        if body.get("stream"):
            return StreamingResponse(self._sse(body, fault), media_type="text/event-stream")
        return JSONResponse(self._completion(body, fault))

    def _completion(self, body: dict[str, Any], fault: str) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": self.plan.reply}
        finish = "stop"
        if fault == "tool":
            message = {"role": "assistant", "content": None, "tool_calls": [_tool_call()]}
            finish = "tool_calls"
        extra = {"speculative": self.plan.speculative} if self.plan.speculative else {}
        return extra | {
            "id": "chatcmpl-fault",
            "object": "chat.completion",
            "model": body.get("model", "fault"),
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {"prompt_tokens": 10, "completion_tokens": len(self.plan.reply.split())},
        }

    async def _sse(self, body: dict[str, Any], fault: str) -> AsyncIterator[str]:
        words = [] if fault == "tool" else self.plan.reply.split(" ")
        for i, word in enumerate(words):
            if fault == "break" and i == self.plan.break_after:
                raise ConnectionAbortedError("injected break")  # uvicorn drops the connection
            if self.plan.delay_s:
                await asyncio.sleep(self.plan.delay_s)
            delta = {"content": word if i == 0 else " " + word}
            yield _chunk({"choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
        if fault == "tool":
            call = _tool_call() | {"index": 0}
            yield _chunk({"choices": [{"index": 0, "delta": {"tool_calls": [call]}}]})
        finish = "tool_calls" if fault == "tool" else "stop"
        last: dict[str, Any] = {"choices": [{"index": 0, "delta": {}, "finish_reason": finish}]}
        if self.plan.speculative:
            last["speculative"] = self.plan.speculative
        yield _chunk(last)
        yield _chunk(
            {"choices": [], "usage": {"prompt_tokens": 10, "completion_tokens": len(words)}}
        )
        yield "data: [DONE]\n\n"


def _tool_call() -> dict[str, Any]:
    arguments = json.dumps({"expression": "6*7"})
    return {
        "id": "call_1",
        "type": "function",
        "function": {"name": "calculator", "arguments": arguments},
    }


def _chunk(payload: dict[str, Any]) -> str:
    return f"data: {json.dumps(payload)}\n\n"


class FaultServer:
    """The app served by uvicorn on 127.0.0.1 in a background thread.

    Attributes:
        plan: The behaviour (mutable between requests).
        base_url: ``http://127.0.0.1:PORT/v1``, once started.
    """

    def __init__(self, plan: FaultPlan | None = None) -> None:
        self.plan = plan or FaultPlan()
        self._app = _App(self.plan)
        routes = [Route("/v1/chat/completions", self._app.chat, methods=["POST"])]
        config = uvicorn.Config(
            Starlette(routes=routes), host="127.0.0.1", port=0, log_level="critical", lifespan="off"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self.base_url = ""

    @property
    def requests(self) -> int:
        """Requests received so far."""
        return self._app.requests

    @property
    def bodies(self) -> list[dict[str, Any]]:
        """Request bodies received, in order."""
        return self._app.bodies

    @property
    def faults(self) -> list[str]:
        """The fault applied to each request, in order."""
        return self._app.faults

    def start(self, timeout_s: float = 10.0) -> None:
        """Start serving; returns once the port is bound."""
        self._thread.start()
        stop = time.monotonic() + timeout_s
        while not self._server.started:
            if time.monotonic() > stop or not self._thread.is_alive():
                raise RuntimeError("fault server did not start")
            time.sleep(0.005)
        port = self._server.servers[0].sockets[0].getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}/v1"

    def stop(self) -> None:
        """Stop serving (open connections are dropped)."""
        self._server.should_exit = True
        self._server.force_exit = True
        self._thread.join(timeout=5.0)


@contextmanager
def serve_faults(plan: FaultPlan | None = None) -> Iterator[FaultServer]:
    """Run a `FaultServer` for the duration of the block."""
    server = FaultServer(plan)
    server.start()
    try:
        yield server
    finally:
        server.stop()
