"""Normalisation of the whole text, and the map back to raw offsets."""

from __future__ import annotations

import re
import unicodedata

import pytest
from _hostile_text import HOSTILE_TEXT, LONG_TEXT
from hypothesis import example, given, settings

from router import _normalize as nm
from router import normalize_text
from router._normalize import MAX_SCAN_CHARS, normalize_with_offsets


def _reference(raw: str) -> str:
    """The plain pipeline, one step after another (what the tables must reproduce)."""
    raw = raw[:MAX_SCAN_CHARS]
    text = unicodedata.normalize("NFKC", raw)
    text = text.translate(dict.fromkeys(map(ord, nm._ZERO_WIDTH_CHARS)))
    text = text.translate(nm._CONFUSABLES)
    return re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]", " ", text)[:MAX_SCAN_CHARS]


def _check_map(raw: str) -> None:
    """The offsets text equals `normalize_text`, and every character maps to its source."""
    got = normalize_with_offsets(raw)
    assert got.text == normalize_text(raw) == _reference(raw)
    assert got.raw_len == len(raw)
    if got.starts is None or got.ends is None:
        assert len(got.text) == len(raw)  # identity: one for one
        return
    starts, ends = got.starts.tolist(), got.ends.tolist()
    assert len(starts) == len(ends) == len(got.text)
    assert starts == sorted(starts)
    for j, ch in enumerate(got.text):
        assert 0 <= starts[j] < ends[j] <= len(raw)
        assert ch in normalize_text(raw[starts[j] : ends[j]]), (j, ch, raw[starts[j] : ends[j]])


def test_the_whole_text_is_normalised_not_its_head_and_tail() -> None:
    raw = "filler " * 1000 + "k\u0456ll\u200b m\u0435" + " filler" * 1000
    out = normalize_text(raw)
    assert "kill me" in out and len(out) == len(raw) - 1  # only the zero-width one goes
    big = "a" * (MAX_SCAN_CHARS + 10)
    assert len(normalize_text(big)) == MAX_SCAN_CHARS
    assert len(normalize_text("\ufdfa" * 100_000)) == MAX_SCAN_CHARS  # NFKC expands 18-fold


@pytest.mark.parametrize(
    ("raw", "plain"),
    [
        ("4\u200b1\u200c1\u200d1 1111", "4111 1111"),
        ("\uff14\uff11\uff11\uff11", "4111"),  # fullwidth digits
        ("e\u0301 and \u1100\u1161\u11a8", "\u00e9 and \uac01"),  # composed as NFKC does
        ("\ufb01le \u2474", "file (1)"),  # one character becomes several
        ("x\u200by\ud800z\x00", "xy z "),
    ],
)
def test_offsets_map_each_character_to_its_source(raw: str, plain: str) -> None:
    assert normalize_text(raw) == plain
    _check_map(raw)


def test_a_span_maps_back_over_the_removed_characters() -> None:
    raw = "card 4\u200b111 1111\u2060 1111 1111 end"
    norm = normalize_with_offsets(raw)
    start = norm.text.index("4111")
    a, b = norm.raw_span(start, start + len("4111 1111 1111 1111"))
    assert raw[a:b] == "4\u200b111 1111\u2060 1111 1111"
    assert norm.position(a) == start and norm.raw_offset(start) == a
    assert norm.raw_offset(len(norm.text)) == len(raw)


@settings(derandomize=True, max_examples=300, deadline=None)
@given(raw=HOSTILE_TEXT)
@example(raw="\u0301\u0301a")  # joining marks with no base
@example(raw="\uff76\uff9e")  # halfwidth kana + voiced mark: NFKC composes across them
@example(raw="\u0344\u0301\u0308e")  # marks that NFKC reorders
@example(raw="a\u0301\n\u0301b\ufdfa\u0301")  # a newline with a mark: a unit of its own
def test_offsets_agree_with_normalize_text_on_hostile_text(raw: str) -> None:
    _check_map(raw)


@settings(derandomize=True, max_examples=8, deadline=None)
@given(raw=LONG_TEXT)
def test_offsets_agree_on_long_text(raw: str) -> None:
    got = normalize_with_offsets(raw)
    assert got.text == _reference(raw)
    if got.starts is not None:
        assert len(got.starts) == len(got.text)


def test_the_composing_starters_match_unicodedata() -> None:
    """Starters that NFC merges with the character before them, recomputed."""
    found = set()
    for cp in range(0x110000):
        for ch in unicodedata.normalize("NFD", chr(cp))[1:]:
            if unicodedata.combining(ch) == 0:
                found.add(ch)
    assert found == set(nm._COMPOSING_STARTERS), unicodedata.unidata_version
