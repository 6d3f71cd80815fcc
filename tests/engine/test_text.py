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


@settings(derandomize=True, max_examples=60, deadline=None)
@given(text=st.text(max_size=30))
@example(text="é→日🎉 split characters")
def test_token_bytes_rebuild_any_text_exactly(default_engine: Engine, text: str) -> None:
    """Tokens that split a UTF-8 character still have exact bytes (decoding one alone: U+FFFD).

    The tokenizer's own decoding of the ids is the reference (its vocabulary
    lacks a few bytes, such as 0xF1, which it drops from any text).
    """
    tok = default_engine.tokenizer
    ids = tok.encode(text, add_special_tokens=False).ids
    joined = b"".join(default_engine.token_bytes(i) for i in ids)
    assert joined.decode("utf-8", "replace") == tok.decode(ids)
    if text.isascii() or "é→日🎉" in text:
        assert joined == text.encode()


def test_token_bytes_of_special_and_byte_fallback_tokens(default_engine: Engine) -> None:
    from tokenizers import Tokenizer, models

    from engine._text import token_bytes

    assert default_engine.token_bytes(default_engine.config.eos_token_ids[0]) == b"<|im_end|>"
    sentencepiece = Tokenizer(models.WordLevel({"<0xE2>": 0, "▁a": 1}, unk_token="▁a"))
    assert token_bytes(sentencepiece, 0) == b"\xe2"
    assert token_bytes(sentencepiece, 99) == b""
