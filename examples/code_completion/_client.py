"""The editor side: one completion per keystroke, a 150 ms budget, stale requests cancelled."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

import anyio
import httpx

__all__ = ["Completer", "Completion"]

Status = Literal["ok", "cancelled", "error"]


@dataclass(frozen=True)
class Completion:
    """One completion request's outcome.

    Attributes:
        index: Which keystroke event asked for it.
        status: ``ok``, ``cancelled`` (a newer keystroke superseded it) or ``error``.
        text: The completion ("" unless ``ok``; may be "" when nothing was ready).
        latency_ms: From sending to the full answer (or to the cancellation).
        finish_reason: The server's finish reason (``deadline`` when cut at the
            budget); for ``error``, what failed.
    """

    index: int
    status: Status
    text: str = ""
    latency_ms: float = 0.0
    finish_reason: str | None = None


class Completer:
    """Requests completions; a new request cancels the one still in flight.

    Cancelling closes the HTTP connection, which the server sees as a
    disconnect: it stops the generation and frees the engine slot.

    Args:
        client: An ``httpx.AsyncClient`` with the server's ``base_url``.
        deadline_ms: The server-side budget per completion (``deadline_ms``).
        max_tokens: Tokens per completion.
        model: The served model id.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        deadline_ms: float = 150.0,
        max_tokens: int = 16,
        model: str = "smollm2-135m",
    ) -> None:
        self.client = client
        self.deadline_ms = deadline_ms
        self.max_tokens = max_tokens
        self.model = model
        self.results: list[Completion] = []
        self._inflight: anyio.CancelScope | None = None

    async def _one(self, index: int, prefix: str, suffix: str, scope: anyio.CancelScope) -> None:
        start = time.perf_counter()
        body = {
            "model": self.model,
            "prompt": prefix,
            "suffix": suffix or None,
            "max_tokens": self.max_tokens,
            "temperature": 0.0,
            "stop": ["\n\n"],
            "deadline_ms": self.deadline_ms,
        }
        status: Status = "cancelled"
        text, reason = "", None
        with scope:
            try:
                r = await self.client.post("/v1/completions", json=body)
                r.raise_for_status()
                choice = r.json()["choices"][0]
                status, text, reason = "ok", choice["text"], choice.get("finish_reason")
            except httpx.HTTPStatusError as exc:
                status, reason = (
                    "error",
                    f"http {exc.response.status_code}: {exc.response.text[:200]}",
                )
            except httpx.HTTPError as exc:
                status, reason = "error", type(exc).__name__
        ms = (time.perf_counter() - start) * 1e3
        self.results.append(Completion(index, status, text, ms, reason))

    def request(self, group: anyio.abc.TaskGroup, index: int, prefix: str, suffix: str) -> None:
        """Cancel the request in flight (stale now) and start one for this keystroke."""
        if self._inflight is not None:
            self._inflight.cancel()
        scope = anyio.CancelScope()
        self._inflight = scope
        group.start_soon(self._one, index, prefix, suffix, scope)
