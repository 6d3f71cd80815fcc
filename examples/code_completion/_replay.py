"""Replaying a recorded editing session: acceptance and latency percentiles.

A session is JSON Lines, one keystroke event a line:
``{"t_ms": 0, "text": "<file after the keystroke>", "cursor": 17}``. The user
only inserts at the cursor, so what they type from event ``i`` on is the final
file's text between event ``i``'s cursor and the start of its suffix; a
completion is *accepted* when that typed text starts with it.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import anyio
import httpx

from agentkit.bench.stats import percentile
from examples.code_completion._client import Completer, Completion

__all__ = [
    "SESSION",
    "KeyEvent",
    "ReplayReport",
    "future_text",
    "load_session",
    "replay",
    "report",
]

SESSION = Path(__file__).parent / "session.jsonl"
"""The recorded editing session shipped with the example."""


@dataclass(frozen=True)
class KeyEvent:
    """The file after one keystroke, and when it happened."""

    t_ms: float
    text: str
    cursor: int

    @property
    def prefix(self) -> str:
        """Text before the cursor."""
        return self.text[: self.cursor]

    @property
    def suffix(self) -> str:
        """Text after the cursor."""
        return self.text[self.cursor :]


def load_session(path: str | Path = SESSION) -> list[KeyEvent]:
    """The events of a session file, in time order.

    Raises:
        ValueError: A cursor outside its text, or timestamps going backwards.
    """
    events = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.strip():
            item = json.loads(line)
            events.append(KeyEvent(float(item["t_ms"]), item["text"], int(item["cursor"])))
    for a, b in itertools.pairwise(events):
        if b.t_ms < a.t_ms:
            raise ValueError(f"timestamps go backwards at t_ms={b.t_ms}")
    if any(not 0 <= e.cursor <= len(e.text) for e in events):
        raise ValueError("a cursor lies outside its text")
    return events


def future_text(events: Sequence[KeyEvent], index: int) -> str:
    """What the user types from event ``index`` on, at its cursor (insert-only editing).

    Example:
        >>> evs = [KeyEvent(0, "ab)", 2), KeyEvent(1, "abcd)", 4)]
        >>> future_text(evs, 0)
        'cd'
    """
    event, final = events[index], events[-1].text
    end = len(final) - len(event.suffix)
    if not final.startswith(event.prefix) or not final.endswith(event.suffix) or end < event.cursor:
        return ""  # not insert-only here: nothing can be accepted
    return final[event.cursor : end]


def _latency_ms(latencies: Sequence[float], q: float) -> float:
    """The benchmarks' ``q``-th percentile (`agentkit.bench.stats`); NaN when none answered."""
    return percentile(latencies, q) if latencies else math.nan


@dataclass(frozen=True)
class ReplayReport:
    """What a replay measured.

    Attributes:
        requests: Completions requested (one per keystroke).
        completed: Answered (not superseded, not failed).
        cancelled: Superseded by a newer keystroke and cancelled.
        errors: Failed requests.
        shown: Answered with non-empty text.
        accepted: Shown completions the user then typed.
        p50_ms, p90_ms, p99_ms: Latency percentiles of answered requests
            (`agentkit.bench.stats.percentile`; NaN when none was answered).
    """

    requests: int
    completed: int
    cancelled: int
    errors: int
    shown: int
    accepted: int
    p50_ms: float
    p90_ms: float
    p99_ms: float

    @property
    def acceptance(self) -> float:
        """Accepted over shown completions (0 when none was shown)."""
        return self.accepted / self.shown if self.shown else 0.0

    def render(self) -> str:
        """A short text report."""
        return (
            f"requests {self.requests}  answered {self.completed}  cancelled (stale) "
            f"{self.cancelled}  errors {self.errors}\n"
            f"shown {self.shown}  accepted {self.accepted}  acceptance {self.acceptance:.0%}\n"
            f"latency ms  p50 {self.p50_ms:.1f}  p90 {self.p90_ms:.1f}  p99 {self.p99_ms:.1f}"
        )


def report(events: Sequence[KeyEvent], results: Sequence[Completion]) -> ReplayReport:
    """Score completions against what the user went on to type."""
    done = [r for r in results if r.status == "ok"]
    shown = [r for r in done if r.text.strip()]
    accepted = [r for r in shown if future_text(events, r.index).startswith(r.text)]
    latencies = [r.latency_ms for r in done]
    return ReplayReport(
        requests=len(results),
        completed=len(done),
        cancelled=sum(r.status == "cancelled" for r in results),
        errors=sum(r.status == "error" for r in results),
        shown=len(shown),
        accepted=len(accepted),
        p50_ms=_latency_ms(latencies, 50),
        p90_ms=_latency_ms(latencies, 90),
        p99_ms=_latency_ms(latencies, 99),
    )


async def replay(
    base_url: str,
    events: Sequence[KeyEvent],
    *,
    speed: float = 1.0,
    deadline_ms: float = 150.0,
    max_tokens: int = 16,
    n: int = 1,
) -> list[Completion]:
    """Replay ``events`` against the server at their recorded pace (``speed`` times faster).

    Each keystroke requests a completion (``n`` > 1: that many candidates,
    ranked by mean log-probability) and cancels the one still in flight.
    Returns one `Completion` per event, in event order.
    """
    timeout = deadline_ms / 1000.0 + 30.0  # the server answers by the deadline; slack for load
    async with httpx.AsyncClient(base_url=base_url, timeout=timeout) as client:
        completer = Completer(client, deadline_ms=deadline_ms, max_tokens=max_tokens, n=n)
        start = anyio.current_time()
        async with anyio.create_task_group() as group:
            for index, event in enumerate(events):
                wait = start + event.t_ms / 1000.0 / speed - anyio.current_time()
                if wait > 0:
                    await anyio.sleep(wait)
                completer.request(group, index, event.prefix, event.suffix)
    return sorted(completer.results, key=lambda r: r.index)
