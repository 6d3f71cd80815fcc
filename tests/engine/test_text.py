"""Incremental detokenization and stop strings."""

from __future__ import annotations

import random
import tracemalloc

from hypothesis import example, given, settings
from hypothesis import strategies as st

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


def test_stop_matcher_memory_is_linear_in_the_stop_length() -> None:
    """One 10,000-character stop took 51 MB as a set of every prefix; 100x is the budget."""
    tracemalloc.start()
    try:
        m = StopMatcher(["ab" * 5000])
        size, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert size < 5_000_000
    assert m.holdback("xx" + "ab" * 100) == 200
    assert m.find("xx" + "ab" * 5000) == 2


def _earliest_stop(text: str, stops: list[str]) -> int | None:
    """The oracle: the first stop to end; among those ending together, the longest."""
    for end in range(1, len(text) + 1):
        ending = [s for s in stops if s and text[:end].endswith(s)]
        if ending:
            return end - max(len(s) for s in ending)
    return None


def _held(text: str, stops: list[str]) -> int:
    """The oracle: the longest tail of ``text`` that is a proper prefix of a stop."""
    tails = [k for s in stops for k in range(1, len(s)) if text.endswith(s[:k])]
    return max(tails, default=0)


@settings(derandomize=True, max_examples=300, deadline=None)
@example(stops=["b", "ab"], text="cab", cuts=[2])  # both end at once: "ab" starts first
@given(
    stops=st.lists(st.text("ab", min_size=1, max_size=6), max_size=4),
    text=st.text("abcd", max_size=40),
    cuts=st.lists(st.integers(0, 40), max_size=8),
)
def test_stop_matcher_equals_the_oracle_however_the_text_arrives(
    stops: list[str], text: str, cuts: list[int]
) -> None:
    m = StopMatcher(stops)
    found = None
    for end in sorted({*(c for c in cuts if c <= len(text)), len(text)}):
        found = m.find(text[:end])
        if found is not None:
            break
        assert m.holdback(text[:end]) == _held(text[:end], stops)
    assert found == _earliest_stop(text, stops)
