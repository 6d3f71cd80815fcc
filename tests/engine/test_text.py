"""Incremental detokenization and stop strings."""

from __future__ import annotations

import random

from engine import Engine
from engine._text import IncrementalDetokenizer, StopMatcher


def test_stop_matcher_finds_earliest_stop_among_10000() -> None:
    rng = random.Random(0)
    stops = [
        "".join(rng.choice("abcdefgh") for _ in range(rng.randint(4, 12))) for _ in range(10_000)
    ]
    stops.append("END")
    m = StopMatcher(stops)
    text = ""
    cut = None
    for chunk in ["xyz ", "zzz", " E", "N", "D tail"]:
        text += chunk
        cut = m.find(text)
        if cut is not None:
            break
    assert cut == text.index("END")


def test_stop_matcher_holdback_covers_stop_prefixes() -> None:
    m = StopMatcher(["</answer>", "STOP"])
    assert m.holdback("hello </ans") == len("</ans")
    assert m.holdback("hello ST") == 2
    assert m.holdback("hello") == 0
    assert StopMatcher([]).find("anything") is None


def test_detokenizer_never_splits_characters(default_engine: Engine) -> None:
    text = "naïve café — 日本語 🙂👍🏽 done"
    ids = default_engine.tokenizer.encode(text).ids
    d = IncrementalDetokenizer(default_engine.tokenizer)
    deltas = [d.push(t) for t in ids]
    deltas.append(d.flush())
    assert all("\ufffd" not in x for x in deltas)
    assert "".join(deltas) == text
