"""The stream guard's PII hold-back: released deltas join to the whole text's redaction.

A text holding PII (cards, spaced IBANs up to 34 characters, phones, SSNs,
e-mail addresses) between words is cut into arbitrary deltas; whatever the
cuts, the released text equals the non-streamed redaction of the whole text,
and no delta ever carries four digits of a PII value.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentkit._safety_types import PIISpan, SafetyStage, SafetyVerdict
from agentkit.safety import (
    HoldbackGuard,
    LocalSafetyFilter,
    SafetyPolicy,
    _guard,
    _pii,
    find_pii,
    iban_valid,
    luhn_valid,
    redact,
)


def _allow(text: str, *, stage: SafetyStage) -> SafetyVerdict:
    return SafetyVerdict()


def _iban(country: str, bban: str) -> str:
    """A valid IBAN: the ISO 13616 check digits computed for ``bban``."""
    n = int("".join(str(int(c, 36)) for c in bban + country + "00"))
    return f"{country}{98 - n % 97:02d}{bban}"


def _luhn(body: str) -> str:
    """``body`` plus the digit that makes it pass the Luhn check."""
    for d in "0123456789":
        digits = [int(c) for c in body + d][::-1]
        total = sum(
            x if i % 2 == 0 else (x * 2 - 9 if x > 4 else x * 2) for i, x in enumerate(digits)
        )
        if total % 10 == 0:
            return body + d
    raise AssertionError("unreachable")


def _grouped(value: str, sep: str) -> str:
    return sep.join(value[i : i + 4] for i in range(0, len(value), 4))


_WORDS = st.sampled_from(
    [
        "the",
        "money",
        "Send",
        "to",
        "please",
        "NOW",
        "and",
        "call",
        "me,",
        "ok.",
        "A",
        "wire",
        "x",
        "yes!\n",
        "café",
        "(no)",
        "12",
        "4111",
        "-",
        "DE",
        ":",
    ]
)
_IBANS = st.builds(
    lambda cc, bban, spaced: _grouped(_iban(cc, bban), " " if spaced else ""),
    st.sampled_from(["MT", "LC", "XK", "QA"]),  # countries without a pinned length
    st.text("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789", min_size=11, max_size=30),
    st.booleans(),
)
_CARDS = st.builds(
    lambda body, sep: _grouped(_luhn(body), sep),
    st.text("0123456789", min_size=12, max_size=18).map(lambda b: "4" + b[1:]),
    st.sampled_from([" ", "-", ""]),
)
_OTHER = st.sampled_from(
    ["123-45-6789", "(415) 555-0134", "+44 20 7946 0958", "bob.smith@example.com", "a@b.co"]
)
_TEXTS = st.lists(st.one_of(_WORDS, _WORDS, _IBANS, _CARDS, _OTHER), min_size=1, max_size=12).map(
    " ".join
)


def _stream(text: str, cuts: list[int], policy: SafetyPolicy) -> list[str]:
    guard = HoldbackGuard(_allow, policy)
    bounds = [0, *sorted(set(cuts)), len(text)]
    deltas = [text[a:b] for a, b in itertools.pairwise(bounds) if b > a]
    return [guard.feed(d).released for d in deltas] + [guard.finish().released]


def _digit_runs(value: str) -> set[str]:
    """Every substring of ``value`` with four digits that starts and ends with a digit."""
    positions = [i for i, c in enumerate(value) if c.isdigit()]
    return {value[positions[i] : positions[i + 3] + 1] for i in range(len(positions) - 3)}


@settings(derandomize=True, max_examples=150, deadline=None)
@given(
    text=_TEXTS,
    cuts=st.lists(st.integers(min_value=1, max_value=600), max_size=40),
    window=st.integers(min_value=0, max_value=24),
    every=st.integers(min_value=1, max_value=8),
)
def test_released_deltas_join_to_the_whole_redaction(
    text: str, cuts: list[int], window: int, every: int
) -> None:
    policy = SafetyPolicy(stream_window_chars=window, stream_check_chars=every)
    cuts = [c for c in cuts if c < len(text)]
    released = _stream(text, cuts, policy)
    spans = find_pii(text)
    expected = redact(text, spans)
    assert "".join(released) == expected
    leaks = set().union(*(_digit_runs(text[s.start : s.end]) for s in spans))
    leaks = {run for run in leaks if run not in expected}
    assert not [(d, run) for d in released for run in leaks if run in d]


def test_a_spaced_34_character_iban_split_anywhere_is_redacted_whole() -> None:
    iban = _grouped(_iban("MT", "MALT011000012345MTLCAST001S" + "123"), " ")
    assert iban_valid(iban) and len(iban) > 40  # longer than the old 24-character window
    text = f"Please wire it to {iban} before Friday, and call me."
    expected = "Please wire it to [IBAN] before Friday, and call me."
    for cut in range(1, len(text)):
        for size in (1, 3, 7):
            cuts = [*range(cut % size or size, len(text), size), cut]
            assert "".join(_stream(text, cuts, SafetyPolicy(stream_check_chars=1))) == expected


def test_the_hold_back_reach_is_derived_from_the_patterns() -> None:
    # The longest match of each pattern, read from the pattern: an e-mail address
    # (64 + 1 + 253 + 1 + 24) is the longest, a spaced 34-character IBAN fits.
    widths = {k.kind: r for k, r in reversed(list(zip(_pii._KINDS, _pii._REACH, strict=True)))}
    assert widths["email"].width == 343 and widths["iban"].width == 64
    assert max(r.width + r.ahead for r in _pii._REACH) == _pii.PII_MAX_CHARS
    # Plain prose settles at once, but for its last few characters ...
    assert _pii.pii_settled("we will talk tomorrow about it") >= len("we will talk tomorrow ")
    # ... a run of card-shaped or IBAN-shaped characters at the end does not.
    assert _pii.pii_settled("pay to DE89 3704 0044") <= len("pay to ")
    assert _pii.pii_settled("card 4111-1111-1111") <= len("card ")


def test_unsettled_text_is_never_redacted_differently_later() -> None:
    # Every prefix's settled part keeps its redaction when the text grows.
    text = "Call 415 555 0134 or pay 4111 1111 1111 1111 to DE89 3704 0044 0532 0130 00 ok"
    final = find_pii(text)
    for n in range(len(text) + 1):
        head = text[:n]
        settled = _pii.pii_settled(head)
        early = [s for s in find_pii(head) if s.start < settled]
        assert early == [s for s in final if s.start < settled], head


@settings(derandomize=True, max_examples=150, deadline=None)
@given(text=_TEXTS)
def test_a_scan_from_a_sync_point_equals_the_whole_scan(text: str) -> None:
    whole = find_pii(text)
    for q in sorted({_pii.pii_sync_point(text, 0, end) for end in range(len(text) + 1)}):
        assert find_pii(text, q) == tuple(s for s in whole if s.start >= q), q


def test_the_guard_scans_each_character_a_bounded_number_of_times(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scanned: list[int] = []

    def counting(text: str, start: int = 0) -> tuple[PIISpan, ...]:
        scanned.append(len(text) - start)
        return find_pii(text, start)

    monkeypatch.setattr(_guard, "find_pii", counting)
    text = "Your order, as promised, ships today; call 415 555 0134 for help. " * 150
    released = _stream(text, list(range(4, len(text), 4)), SafetyPolicy(stream_check_chars=8))
    assert "".join(released) == redact(text, find_pii(text))
    # A whole-text scan per check would read ~len(text)**2 / 16 characters (over 6 M here).
    assert sum(scanned) < 40 * len(text)


@settings(derandomize=True, max_examples=400, deadline=None)
@given(st.text(st.characters(codec=None), max_size=60))
def test_the_detector_takes_any_unicode(text: str) -> None:
    luhn_valid(text)  # "¹" is a digit to str.isdigit but not to int()
    iban_valid(text)
    spans = find_pii(text)
    assert all(0 <= a.start < a.end <= len(text) for a in spans)
    assert all(a.end <= b.start for a, b in itertools.pairwise(spans))
    assert 0 <= _pii.pii_settled(text) <= len(text)
    redact(text, spans)


def test_superscript_digits_are_not_card_digits() -> None:
    assert not luhn_valid("4111 1111 1111 111¹")


@settings(derandomize=True, max_examples=100, deadline=None)
@given(st.text(max_size=80), st.lists(st.integers(1, 80), max_size=10))
def test_the_local_guard_takes_any_unicode_split_anywhere(text: str, cuts: list[int]) -> None:
    guard = LocalSafetyFilter().stream_guard()
    bounds = [0, *sorted(c for c in set(cuts) if c < len(text)), len(text)]
    released = [guard.feed(text[a:b]).released for a, b in itertools.pairwise(bounds)]
    final = guard.finish()
    released.append(final.released)
    if final.verdict.action not in ("escalate", "refuse"):
        assert "".join(released) == redact(text, find_pii(text))
