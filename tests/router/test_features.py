"""Layer 1 (structural features) and text normalisation."""

from __future__ import annotations

import numpy as np
import pytest

from router import normalize_text
from router._features import FEATURE_NAMES, structural_features
from router._linear import featurize
from router._normalize import HEAD_CHARS, TAIL_CHARS, cap_text


def _f(text: str) -> dict[str, float]:
    return dict(zip(FEATURE_NAMES, structural_features(text).tolist(), strict=True))


def test_arithmetic_intent_features() -> None:
    math = _f("Sam buys 3 boxes of 12 eggs at $4 each. How much does he pay in total?")
    chat = _f("Hello, how are you today?")
    for name in ("numbers", "currency", "amount_question", "numbers_x_question"):
        assert math[name] > 0.3, name
        assert chat[name] == 0.0, name
    assert _f("Solve 3x + 5 = 20")["operators"] > 0
    assert _f("What is 15% of 80?")["percent"] > 0


def test_logic_features() -> None:
    logic = _f(
        "All cats are mammals. If Tom is a cat, then Tom is a mammal. "
        "Therefore, is Tom a mammal? True or false?"
    )
    assert logic["conditionals"] > 0.3
    assert logic["quantifiers"] > 0
    assert logic["conclusion"] > 0.3
    assert _f("1. All A are B.\n2. Some B are C.\n3. No C are D.\n")["enumerated"] > 0.5


def test_code_and_depth_features() -> None:
    code = _f("def add(a, b):\n    return a + b\n")
    assert code["code"] > 0.5 and code["code_lines"] > 0
    assert _f("Please think step by step and prove it.")["depth"] > 0.5
    assert _f("What time is it?")["depth"] == 0.0


def test_three_word_phrases_count() -> None:
    # Phrases were once looked up as word pairs only, so "step by step" never counted.
    assert _f("Explain step by step.")["depth"] > 0.5
    assert _f("In how many ways can 4 people sit?")["math_vocab"] > 0
    assert _f("Step by the door.")["depth"] == 0.0


def test_number_theory_and_ordering_vocabulary() -> None:
    assert _f("Find the gcd of 12 and 18.")["math_vocab"] > 0
    assert _f("Dan finished ahead of Eve; who came last?")["puzzle"] > 0.3
    assert _f("Where is my parcel?")["puzzle"] == 0.0


def test_values_are_bounded() -> None:
    for text in ("", "x" * 50_000, "1 + 2 = 3 " * 500, "?" * 1000):
        v = structural_features(text)
        assert v.shape == (len(FEATURE_NAMES),)
        assert np.all((v >= 0.0) & (v <= 1.0))


def test_normalize_folds_evasions() -> None:
    plain = "how to kill"
    assert normalize_text("h\u200bo\u200dw to k\u00adill") == plain
    assert normalize_text("ｈｏｗ ｔｏ ｋｉｌｌ") == plain  # fullwidth, NFKC
    assert normalize_text("how to kіll") == plain  # Cyrillic і
    assert normalize_text("hοw tο kill") == plain  # Greek ο


@pytest.mark.parametrize("bad", [None, 42, b"\xff\xfe\x00abc", "\x00\x01\x02", "a\ud800b"])
def test_normalize_never_raises(bad: object) -> None:
    out = normalize_text(bad)
    assert isinstance(out, str)
    assert "\x00" not in out


def test_cap_is_bounded_and_idempotent() -> None:
    big = "a" * 1_000_000 + "the question?"
    assert normalize_text(big) == big  # the whole text is normalised (up to 1 Mi characters)
    capped = cap_text(big)
    assert len(capped) <= HEAD_CHARS + TAIL_CHARS + 1
    assert capped.endswith("the question?")
    assert cap_text(capped) == capped


def test_hashing_is_stable_and_sparse() -> None:
    a, b = featurize("How many apples?"), featurize("How many apples?")
    assert np.array_equal(a.idx, b.idx) and np.allclose(a.val, b.val)
    assert a.idx.size == np.unique(a.idx).size
    # Digits are folded, so the number itself does not change the n-grams.
    c = featurize("How many apples? 7")
    d = featurize("How many apples? 9")
    assert np.array_equal(c.idx, d.idx)
    empty = featurize("")
    assert empty.idx.size == 0 and empty.dense.shape == (len(FEATURE_NAMES),)
