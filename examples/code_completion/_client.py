"""The editor side: one completion per keystroke, a 150 ms budget, stale requests cancelled.

With ``n`` > 1 the client asks for ``n`` sampled candidates and their tokens'
log-probabilities in one request (the server prefills the prompt once for
all of them), and shows the candidate the model is surest of
(`examples.code_completion._rank`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Literal

import anyio
import httpx

from examples.code_completion._rank import Candidate, rank_candidates

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
        candidates: With ``n`` > 1, the distinct candidates, best first (``text``
            is the first one's).
    """

    index: int
    status: Status
    text: str = ""
    latency_ms: float = 0.0
    finish_reason: str | None = None
    candidates: tuple[Candidate, ...] = ()


class Completer:
    """Requests completions; a new request cancels the one still in flight.

    Cancelling closes the HTTP connection, which the server sees as a
    disconnect: it stops the generation and frees the engine slot.

    Args:
        client: An ``httpx.AsyncClient`` with the server's ``base_url``.
        deadline_ms: The server-side budget per completion (``deadline_ms``).
        max_tokens: Tokens per completion.
        model: The served model id.
        n: Candidates per keystroke; more than one are sampled (``temperature``,
            ``seed``) and ranked by mean log-probability.
        temperature: Sampling temperature when ``n`` > 1 (``n`` = 1 is greedy).
        seed: Seed of the candidates (``seed + i`` for candidate ``i``); None: random.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        deadline_ms: float = 150.0,
        max_tokens: int = 16,
        model: str = "smollm2-135m",
        n: int = 1,
        temperature: float = 0.8,
        seed: int | None = None,
    ) -> None:
        self.client = client
        self.deadline_ms = deadline_ms
        self.max_tokens = max_tokens
        self.model = model
        self.n = n
        self.temperature = temperature
        self.seed = seed
        self.results: list[Completion] = []
        self._inflight: anyio.CancelScope | None = None

    def _body(self, prefix: str, suffix: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "prompt": prefix,
            "suffix": suffix or None,
            "max_tokens": self.max_tokens,
            "temperature": 0.0,
            "stop": ["\n\n"],
            "deadline_ms": self.deadline_ms,
        }
        if self.n > 1:  # sampled candidates, each token's logprob to rank them by
            body.update(n=self.n, logprobs=0, temperature=self.temperature, seed=self.seed)
        return body

    async def _one(self, index: int, prefix: str, suffix: str, scope: anyio.CancelScope) -> None:
        start = time.perf_counter()
        body = self._body(prefix, suffix)
        status: Status = "cancelled"
        text, reason = "", None
        ranked: tuple[Candidate, ...] = ()
        with scope:
            try:
                r = await self.client.post("/v1/completions", json=body)
                r.raise_for_status()
                choices = r.json()["choices"]
                ranked = tuple(rank_candidates(choices)) if self.n > 1 else ()
                best = choices[0]
                if ranked:
                    best = next(c for c in choices if c["index"] == ranked[0].index)
                status, text, reason = "ok", best["text"], best.get("finish_reason")
            except httpx.HTTPStatusError as exc:
                status, reason = (
                    "error",
                    f"http {exc.response.status_code}: {exc.response.text[:200]}",
                )
            except httpx.HTTPError as exc:
                status, reason = "error", type(exc).__name__
        ms = (time.perf_counter() - start) * 1e3
        self.results.append(Completion(index, status, text, ms, reason, ranked))

    def request(self, group: anyio.abc.TaskGroup, index: int, prefix: str, suffix: str) -> None:
        """Cancel the request in flight (stale now) and start one for this keystroke."""
        if self._inflight is not None:
            self._inflight.cancel()
        scope = anyio.CancelScope()
        self._inflight = scope
        group.start_soon(self._one, index, prefix, suffix, scope)
