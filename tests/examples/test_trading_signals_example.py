"""The trading-signals example: routing, calculator facts, schema-valid signals, deadlines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio

from agentkit import FunctionModel, ScriptedModel
from agentkit._doubles import ModelCall
from examples.trading_signals import (
    HEADLINES,
    INSTRUCTIONS,
    Headline,
    RecordedSource,
    Signal,
    SignalAgent,
    numeric_facts,
    signal_schema,
    text_histogram,
)
from examples.trading_signals._signals import needs_numeric_reasoning
from tools import ToolRegistry, calculator


def _signal_for(call: ModelCall) -> str:
    schema = call.settings.json_schema or {}
    ticker = schema["properties"]["instrument"]["const"]
    return Signal(
        instrument=ticker, direction="long", confidence=0.6, rationale="test"
    ).model_dump_json()


def test_calculator_computes_the_earnings_surprise() -> None:
    reg = ToolRegistry([calculator])
    beat = anyio.run(
        numeric_facts, "Microsoft reports quarterly EPS of $3.30 vs $3.10 expected", reg
    )
    miss = anyio.run(
        numeric_facts, "JPMorgan earnings of $4.37 per share miss estimates of $4.60", reg
    )
    assert beat and "= 6.45%" in beat[0]
    assert miss and "= -5%" in miss[0]
    assert anyio.run(numeric_facts, "Pfizer wins FDA approval", reg) == []


def test_numeric_headlines_go_deep_with_facts_others_stay_fast() -> None:
    fast = FunctionModel(_signal_for, name="fast")
    deep = FunctionModel(_signal_for, name="deep")
    agent = SignalAgent(fast, deep, deadline_ms=5000)
    results = anyio.run(lambda: agent.run(RecordedSource()))
    headlines = [Headline.model_validate_json(x) for x in HEADLINES.read_text().splitlines()]
    assert len(results) == len(headlines) == 20
    for r, h in zip(results, headlines, strict=True):
        assert r.status == "ok" and r.signal is not None
        assert r.signal.instrument == h.instrument
        assert r.tier == ("deep" if needs_numeric_reasoning(h.text) else "fast")
    assert 3 <= len(deep.calls) <= 12
    msft = next(c for c in deep.calls if "Microsoft" in (c.messages[-1].content or ""))
    assert "Calculator: surprise vs expected = 6.45%" in (msft.messages[-1].content or "")
    for call in [*fast.calls, *deep.calls]:  # every call decodes under Signal's schema
        assert set(call.settings.json_schema["properties"]) == set(Signal.model_fields)  # type: ignore[index]


def test_late_deep_tier_degrades_to_fast_within_the_deadline() -> None:
    deep = ScriptedModel(["{}"], delay_s=5.0)
    fast = FunctionModel(_signal_for)
    agent = SignalAgent(fast, deep, deadline_ms=400, fallback_reserve_ms=200)
    h = Headline(id="x", instrument="MSFT", text="Microsoft EPS of $3.30 vs $3.10 expected")
    r = anyio.run(agent.process, h)
    assert (r.status, r.tier) == ("degraded", "fast")
    assert r.latency_ms < 5000  # cut at the deadline, not after the deep tier's 5 s


def test_invalid_output_is_reported_not_raised() -> None:
    model = FunctionModel(lambda call: '{"instrument": "X"}')
    agent = SignalAgent(model)
    r = anyio.run(agent.process, Headline(id="y", instrument="X", text="X opens a store"))
    assert (r.status, r.signal, r.tier) == ("invalid", None, None)
    assert len(model.calls) == 2  # the agent's one corrective retry, then it gives up


def test_each_headline_is_a_typed_agent_turn() -> None:
    """The example runs `Agent` + `Runner` with ``output_type``: no hand-made model calls."""
    fast = FunctionModel(_signal_for, name="fast")
    agent = SignalAgent(fast, None, deadline_ms=5000)
    h = Headline(id="z", instrument="AAPL", text="Apple unveils a new phone")
    r = anyio.run(agent.process, h)
    assert r.turn is not None and r.turn.output is r.signal
    assert (r.turn.outcome, [hop.tier for hop in r.turn.hops]) == ("ok", ["fast"])
    assert agent.agent("AAPL").output_type is not None
    assert fast.calls[0].messages[0].content == INSTRUCTIONS
    assert fast.calls[0].settings.json_schema == signal_schema("AAPL")


def test_text_histogram_counts_every_latency() -> None:
    lines = text_histogram([1, 2, 3, 50, 90, 100], bins=4).splitlines()
    assert sum(int(line.rsplit(" ", 1)[1]) for line in lines) == 6


def test_signals_on_the_embedded_model(engine: Any, tmp_path: Path) -> None:
    from agentkit._engine_model import EngineModel

    path = tmp_path / "one.jsonl"
    path.write_text(HEADLINES.read_text().splitlines()[0] + "\n")
    agent = SignalAgent(EngineModel(engine), None, deadline_ms=600_000, max_tokens=24)
    (r,) = anyio.run(lambda: agent.run(RecordedSource(path)))
    assert r.status in ("ok", "invalid")  # 24 tokens may cut the JSON short
    if r.signal is not None:
        assert r.signal.instrument == "AAPL"
        Signal.model_validate(json.loads(r.signal.model_dump_json()))
