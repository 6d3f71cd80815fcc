"""Typed signals from news headlines, under a hard per-headline deadline.

An `Agent` with ``output_type`` (a `Signal` with the instrument pinned), run by
`Runner`: both tiers decode under the type's JSON schema (the engine's
constraint on the fast tier, ``response_format`` on the deep tier), and the
answer comes back validated in ``TurnResult.output``. Routine headlines stay on
the fast tier. Headlines with numbers to reason about (earnings vs. estimates,
percentages): the calculator tool computes the surprise exactly, then the
router sends them deep; if the deep tier is late or broken, the fast tier
answers within what is left of the deadline (``degraded``).
"""

from __future__ import annotations

import functools
import json
import re
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol, cast

import anyio
import structlog
from pydantic import BaseModel, ConfigDict, Field, create_model

from agentkit import Agent, BudgetPolicy, Model, Runner, SamplingSettings, TurnResult
from agentkit.results import Warmup
from router import Decision, RouteContext, StreamSignals
from tools import ToolRegistry, calculator

__all__ = [
    "HEADLINES",
    "INSTRUCTIONS",
    "Headline",
    "HeadlineRouter",
    "HeadlineSource",
    "RecordedSource",
    "Signal",
    "SignalAgent",
    "SignalResult",
    "numeric_facts",
    "pinned_signal",
    "signal_schema",
    "text_histogram",
]

HEADLINES = Path(__file__).parent / "headlines.jsonl"
"""The recorded sample stream shipped with the example (20 headlines)."""

_log = structlog.get_logger("examples.trading_signals")


class Signal(BaseModel):
    """A trading signal: what to do with one instrument, how sure, and why."""

    model_config = ConfigDict(extra="forbid")

    instrument: str = Field(min_length=1, max_length=8, description="ticker symbol")
    direction: Literal["long", "short", "flat"]
    confidence: float = Field(ge=0.0, le=1.0)
    rationale: str = Field(max_length=60)


class Headline(BaseModel):
    """One news headline, about one instrument."""

    id: str
    t_ms: float = 0.0
    instrument: str
    text: str


class HeadlineSource(Protocol):
    """Where headlines come from (a recorded file, a news feed, a queue)."""

    def headlines(self) -> AsyncIterator[Headline]:
        """Yield headlines as they arrive."""
        ...


@dataclass(frozen=True)
class RecordedSource:
    """Headlines replayed from a JSONL file at their recorded pace (``speed`` times faster).

    Attributes:
        path: The file (one `Headline` per line).
        speed: Replay speed; ``float("inf")`` yields them as fast as consumed.
    """

    path: Path = HEADLINES
    speed: float = float("inf")

    async def headlines(self) -> AsyncIterator[Headline]:
        """Yield the recorded headlines in order."""
        start = anyio.current_time()
        for line in Path(self.path).read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            item = Headline.model_validate_json(line)
            wait = start + item.t_ms / 1000.0 / self.speed - anyio.current_time()
            if wait > 0:
                await anyio.sleep(wait)
            yield item


_PAIR = re.compile(
    r"\$?(\d+(?:\.\d+)?)(?:\s*(?:billion|million|per share))?[^\d$]{1,40}?"
    r"(?:vs\.?|versus|above|below|beating|missing|miss(?:es)? estimates of|of)\s+(?:the\s+)?"
    r"\$?(\d+(?:\.\d+)?)",
    re.IGNORECASE,
)
_NUMERIC = re.compile(r"\d\s*%|\b(expected|estimates?|consensus|forecast|EPS)\b", re.IGNORECASE)


async def numeric_facts(text: str, registry: ToolRegistry) -> list[str]:
    """Exact arithmetic for a headline's reported-vs-expected pair, via the calculator tool.

    Returns:
        Facts like ``"surprise = (3.30 - 3.10) / 3.10 * 100 = 6.45…%"`` (empty when
        the headline has no such pair).
    """
    match = _PAIR.search(text)
    if match is None:
        return []
    actual, expected = match.group(1), match.group(2)
    expression = f"round(({actual} - {expected}) / {expected} * 100, 2)"
    result = await registry.execute("calc", "calculator", json.dumps({"expression": expression}))
    if not result.ok:
        return []
    return [f"surprise vs expected = {result.content}% (reported {actual}, expected {expected})"]


def needs_numeric_reasoning(text: str) -> bool:
    """Whether a headline's signal depends on numbers (earnings vs. estimates, percentages)."""
    return bool(_NUMERIC.search(text))


Status = Literal["ok", "degraded", "deadline", "invalid"]


@dataclass(frozen=True)
class SignalResult:
    """What one headline produced.

    Attributes:
        headline: The headline.
        tier: The tier whose output became the signal (None: no signal).
        status: ``ok``; ``degraded`` (deep failed, fast answered); ``deadline``
            (nothing valid in time); ``invalid`` (output did not validate, even
            after the corrective retry).
        signal: The validated signal, when there is one.
        latency_ms: From receiving the headline to the result.
        facts: Calculator facts given to the deep tier.
        turn: The agent turn behind it (hops, reasons, timings, usage).
    """

    headline: Headline
    tier: Literal["fast", "deep"] | None
    status: Status
    signal: Signal | None
    latency_ms: float
    facts: tuple[str, ...] = ()
    turn: TurnResult | None = None


INSTRUCTIONS = (
    "You turn one news headline into a trading signal. Reply with one JSON object: "
    '{"instrument", "direction": "long"|"short"|"flat", "confidence": 0-1, "rationale"}.'
)


def _user_text(headline: Headline, facts: Sequence[str]) -> str:
    text = f"Instrument: {headline.instrument}\nHeadline: {headline.text}"
    return text + ("\nCalculator: " + "; ".join(facts) if facts else "")


@functools.cache
def pinned_signal(instrument: str) -> type[Signal]:
    """`Signal` with the instrument pinned (a ``const`` in its schema: fewer tokens, no wrong
    ticker). One type, and so one agent, per instrument."""
    ticker: Any = Literal.__getitem__(instrument)
    return cast(type[Signal], create_model("Signal", __base__=Signal, instrument=(ticker, ...)))


def signal_schema(instrument: str) -> dict[str, Any]:
    """The JSON schema every call for ``instrument`` decodes under."""
    schema: dict[str, Any] = pinned_signal(instrument).model_json_schema()
    return schema


@dataclass(frozen=True)
class HeadlineRouter:
    """Deep for headlines with numbers to reason about (earnings vs. estimates,
    percentages), fast for the rest; never escalates mid-stream (a JSON value is
    answered whole)."""

    def route(self, context: RouteContext) -> Decision:
        """Pick the tier from the headline's words."""
        if needs_numeric_reasoning(context.message):
            return Decision("deep", {"numeric": 1.0}, ("numbers to reason about",))
        return Decision("fast", {"numeric": 0.0}, ("routine headline",))

    def should_escalate(self, context: RouteContext, stats: StreamSignals) -> Decision | None:
        """Never: see the class docstring."""
        return None


def _status(turn: TurnResult) -> Status:
    if turn.output is not None:
        return "ok" if turn.outcome == "ok" else "degraded"
    if any(r.startswith("output did not validate") for r in turn.reasons):
        return "invalid"
    return "deadline"


class SignalAgent:
    """Turns headlines into signals: an `Agent` with ``output_type``, run by `Runner`.

    Each headline is one turn of the agent for its instrument, whose budget is
    what is left of the headline's hard deadline once the calculator facts are
    in: the router sends numeric headlines deep, a deep tier that is late or
    broken leaves ``fallback_reserve_ms`` for the fast tier (``degraded``), and
    the answer is validated as a `Signal` (one corrective retry).

    Args:
        fast: The fast tier (the embedded model via `EngineModel`).
        deep: The deep tier for numeric headlines (None: fast only).
        deadline_ms: The hard limit per headline.
        fallback_reserve_ms: Time kept for the fast tier when the deep tier fails.
        max_tokens: Tokens per model call.
    """

    def __init__(
        self,
        fast: Model,
        deep: Model | None = None,
        *,
        deadline_ms: float = 2000.0,
        fallback_reserve_ms: float = 300.0,
        max_tokens: int = 48,
    ) -> None:
        self.fast, self.deep = fast, deep
        self.deadline_ms = deadline_ms
        self.fallback_reserve_ms = fallback_reserve_ms
        self.max_tokens = max_tokens
        self.registry = ToolRegistry([calculator])
        self._agents: dict[str, Agent] = {}

    def agent(self, instrument: str) -> Agent:
        """The agent for ``instrument`` (built once; its output type pins the ticker)."""
        if instrument not in self._agents:
            self._agents[instrument] = Agent(
                instructions=INSTRUCTIONS,
                fast=self.fast,
                deep=self.deep,
                router=HeadlineRouter(),
                output_type=pinned_signal(instrument),
                budget_ms=self.deadline_ms,
                policy=BudgetPolicy(fallback_reserve_ms=self.fallback_reserve_ms),
                settings=SamplingSettings(max_tokens=self.max_tokens),
            )
        return self._agents[instrument]

    async def start(self) -> Warmup:
        """Warm the tiers ahead of the first headline (`Runner.start`): no headline's
        deadline pays for loading the model."""
        return await Runner.start(self.agent("X"))

    async def process(self, headline: Headline) -> SignalResult:
        """One headline to one `SignalResult` (never raises for model trouble)."""
        start = time.monotonic()
        numeric = needs_numeric_reasoning(headline.text)
        facts = await numeric_facts(headline.text, self.registry) if numeric else []
        left_ms = self.deadline_ms - (time.monotonic() - start) * 1000.0
        turn = await Runner.run(
            self.agent(headline.instrument),
            _user_text(headline, facts),
            budget_ms=max(1.0, left_ms),
        )
        ms = (time.monotonic() - start) * 1000.0
        signal = turn.output if isinstance(turn.output, Signal) else None
        status = _status(turn)
        tier = turn.tier if signal is not None else None
        result = SignalResult(headline, tier, status, signal, ms, tuple(facts), turn)
        _log.info(
            "signal",
            headline=headline.id,
            tier=result.tier,
            status=status,
            latency_ms=round(ms, 1),
            direction=signal.direction if signal else None,
        )
        return result

    async def run(self, source: HeadlineSource) -> list[SignalResult]:
        """Process every headline of ``source`` in order."""
        return [await self.process(h) async for h in source.headlines()]


def text_histogram(latencies_ms: Sequence[float], bins: int = 8, width: int = 40) -> str:
    """A text histogram of latencies (one line per bin, ``#`` bars).

    Example:
        >>> print(text_histogram([10, 10, 30], bins=2, width=4))
          10.0 -   20.0 ms | #### 2
          20.0 -   30.0 ms | ## 1
    """
    if not latencies_ms:
        return "(no latencies)"
    lo, hi = min(latencies_ms), max(latencies_ms)
    step = (hi - lo) / bins or 1.0
    counts = [0] * bins
    for v in latencies_ms:
        counts[min(bins - 1, int((v - lo) / step))] += 1
    top = max(counts)
    lines = []
    for i, c in enumerate(counts):
        if c or i in (0, bins - 1):
            bar = "#" * max(1 if c else 0, round(c / top * width))
            lines.append(f"{lo + i * step:6.1f} - {lo + (i + 1) * step:6.1f} ms | {bar} {c}")
    return "\n".join(lines)
