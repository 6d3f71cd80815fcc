"""Trading signals measured: labelled headlines, direction accuracy, the always-long bug."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import anyio
import pytest

from agentkit import FunctionModel
from agentkit.answers import default_embedder
from agentkit.cli import main as cli_main
from examples.trading_signals import SignalAgent
from examples.trading_signals._direction import (
    DirectionClassifier,
    SignalFastModel,
    surprise_direction,
)
from examples.trading_signals._evaluate import (
    EVAL_DATA,
    evaluate_signals,
    read_labelled,
)

EVAL = EVAL_DATA.parent
needs_embeddings = pytest.mark.skipif(
    default_embedder() is None, reason="MiniLM (extra 'embeddings' + its wheel) not installed"
)
FROZEN = {
    "signals_dev.jsonl": "4817910e34b7a909326260e6250355feacc635059973413a51f6457122fb39a9",
    "signals_shipped.jsonl": "e2aa30bff82c3f06580db9296bb266e4baceb9f99b1d58f96ebe8c4f77ffb4ac",
    "signals_train.jsonl": "d702afaa8744e316db8ee9cf64cb44ceb4213fc7573be506974c7e7ca25d13c9",
}
"""As first committed (b6ea470), before any classifier or model ran on them."""


def test_labelled_sets_are_frozen_and_apart() -> None:
    for name, digest in FROZEN.items():
        assert hashlib.sha256((EVAL / name).read_bytes()).hexdigest() == digest
    train = {r.text for r in read_labelled(EVAL / "signals_train.jsonl")}
    assert not train & {r.text for r in read_labelled(EVAL_DATA)}
    assert len(read_labelled(EVAL_DATA)) == 40


def test_the_calculator_gives_the_direction_of_a_surprise() -> None:
    beat = surprise_direction(["surprise vs expected = 6.45% (reported 3.30, expected 3.10)"])
    miss = surprise_direction(["surprise vs expected = -5% (reported 4.37, expected 4.60)"])
    assert (beat and beat.direction, miss and miss.direction) == ("long", "short")
    assert surprise_direction([]) is None


def _report(fast: Any, path: Path = EVAL_DATA) -> Any:
    agent = SignalAgent(fast)
    return anyio.run(evaluate_signals, agent, read_labelled(path))


@needs_embeddings
def test_released_signals_are_right_and_take_both_sides() -> None:
    classifier = DirectionClassifier.from_file()
    report = _report(SignalFastModel(classifier))
    assert report.released >= 15 and report.released_accuracy >= 0.9  # measured 21, 0.952
    assert not report.collapsed and set(report.positions) == {"long", "short"}
    unsure = [r for r in report.results if r.direction == "flat" and r.label != "flat"]
    assert unsure and all(r.rationale for r in unsure)  # flat, with the reason
    shipped = _report(SignalFastModel(classifier), EVAL / "signals_shipped.jsonl")
    assert shipped.released_accuracy == 1.0 and not shipped.collapsed  # recall, cut: short


def test_an_always_long_fast_tier_is_caught() -> None:
    def long_always(call: Any) -> str:
        ticker = call.settings.json_schema["properties"]["instrument"]["const"]
        signal = {"instrument": ticker, "direction": "long", "confidence": 0.5, "rationale": ""}
        return json.dumps(signal)

    report = _report(FunctionModel(long_always))
    assert report.collapsed and report.positions == {"long": 40}
    assert report.released_accuracy is not None and report.released_accuracy < 0.5


@needs_embeddings
def test_eval_answers_cli_scores_directions(tmp_path: Path) -> None:
    out = tmp_path / "signals.json"
    code = cli_main(["eval", "answers", "--example", "trading_signals", "--json", str(out)])
    assert code == 0
    report = json.loads(out.read_text())
    assert report["rows"] == 40 and report["released_accuracy"] >= 0.9
    assert report["collapsed"] is False
