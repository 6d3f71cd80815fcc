"""PII detection: checksums decide, and redaction replaces exactly the spans."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentkit._safety_types import PIISpan
from agentkit.safety import _pii, find_pii, iban_valid, luhn_valid, redact
from router._normalize import normalize_with_offsets


def _luhn_check_digit(body: str) -> str:
    """Independent oracle: the digit that makes ``body + d`` Luhn-valid."""
    for d in "0123456789":
        digits = [int(c) for c in body + d][::-1]
        total = sum(
            x if i % 2 == 0 else (x * 2 - 9 if x * 2 > 9 else x * 2) for i, x in enumerate(digits)
        )
        if total % 10 == 0:
            return d
    raise AssertionError("unreachable")


@pytest.mark.parametrize("body", ["411111111111111", "555555555555444", "37828224631000"])
def test_luhn_valid_and_every_single_digit_error_detected(body: str) -> None:
    number = body + _luhn_check_digit(body)
    assert luhn_valid(number)
    assert luhn_valid(" ".join(number[i : i + 4] for i in range(0, len(number), 4)))
    for pos in range(len(number)):
        for d in "0123456789":
            if d != number[pos]:
                assert not luhn_valid(number[:pos] + d + number[pos + 1 :])


def test_luhn_rejects_wrong_lengths() -> None:
    assert not luhn_valid("0")
    assert not luhn_valid("00000000000")


@pytest.mark.parametrize(
    "iban",
    [
        "GB82 WEST 1234 5698 7654 32",
        "DE89370400440532013000",
        "FR1420041010050500013M02606",
        "NL91ABNA0417164300",
    ],
)
def test_iban_valid_and_single_changes_rejected(iban: str) -> None:
    assert iban_valid(iban)
    compact = iban.replace(" ", "")
    for pos in range(4, len(compact)):
        ch = compact[pos]
        alt = "7" if ch != "7" else "3"
        if ch.isdigit():
            assert not iban_valid(compact[:pos] + alt + compact[pos + 1 :])
    assert not iban_valid(compact[:-1])  # wrong length for the country


def test_find_pii_kinds_and_redaction() -> None:
    text = (
        "Mail john.doe@example.com, call +1 415-555-0132, card 4111 1111 1111 1111, "
        "IBAN DE89 3704 0044 0532 0130 00, SSN 123-45-6789."
    )
    spans = find_pii(text)
    assert [s.kind for s in spans] == ["email", "phone", "card", "iban", "ssn"]
    for s in spans:
        assert text[s.start : s.end].strip() == text[s.start : s.end]
    assert redact(text, spans) == (
        "Mail [EMAIL], call [PHONE], card [CARD], IBAN [IBAN], SSN [SSN]."
    )


def test_invalid_numbers_are_not_pii() -> None:
    text = (
        "Card 4111 1111 1111 1112, IBAN DE89 3704 0044 0532 0130 01, order 12345678, "
        "SSN-like 000-12-3456, year 2024."
    )
    assert find_pii(text) == ()


def test_redact_without_spans_is_identity() -> None:
    assert redact("nothing here", ()) == "nothing here"


def _ungated(text: str) -> tuple[PIISpan, ...]:
    """`find_pii` without its shape gates: every pattern searched over the whole text."""
    norm = normalize_with_offsets(text, limit=None)
    whole = [(0, len(norm.text))]
    found = [span for k in _pii._KINDS for span in _pii._matches(k, norm.text, whole)]
    spans = []
    for kind, a, b in _pii._non_overlapping(found):
        ra, rb = norm.raw_span(a, b)
        spans.append(PIISpan(kind=kind, start=ra, end=rb))
    return tuple(spans)


def test_shape_gates_change_no_span() -> None:
    rng = random.Random(0)
    texts = [
        "".join(rng.choices("0123456789 -.()+@aBZ", k=rng.randint(0, 32))) for _ in range(20_000)
    ]
    texts += ["Card 4111 1111 1111 1111, IBAN GB82 WEST 1234 5698 7654 32, SSN 123-45-6789"]
    texts += ["".join(rng.choices("0123456789 ./-+\u200bdessn call", k=24)) for _ in range(5_000)]
    for text in texts:
        assert find_pii(text) == _ungated(text), text


# --- PII on normalised text (issue 15) -------------------------------------------------

_ZW = "\u200b\u200c\u200d\u2060\ufeff\u00ad"


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        ("card 4\u200b1\u200b1\u200b1 1111 1111 1111 ok", "card"),
        ("card 4111.1111.1111.1111 ok", "card"),
        ("card 4111/1111/1111/1111 ok", "card"),
        ("card \uff14\uff11\uff11\uff11 1111 1111 1111 ok", "card"),  # fullwidth digits
        ("ssn 123 45 6789 ok", "ssn"),
        ("ssn: 123456789 ok", "ssn"),
        ("my social security number is 123456789", "ssn"),
        ("123456789 is my SSN", "ssn"),
        ("iban de89 3704 0044 0532 0130 00 ok", "iban"),
        ("iban de89370400440532013000 thanks", "iban"),
        ("call me on 4155550134 tonight", "phone"),
        ("mobile: 14155550134", "phone"),
        ("reach +14155550134", "phone"),
    ],
)
def test_evasions_found_on_normalised_text_are_redacted_in_the_raw(raw: str, kind: str) -> None:
    spans = find_pii(raw)
    assert [s.kind for s in spans] == [kind], spans
    out = redact(raw, spans)
    assert f"[{kind.upper()}]" in out
    assert not any(c.isdecimal() for c in out), out  # every digit of the value is cut


@pytest.mark.parametrize(
    "raw",
    [
        "order 123456789 shipped",  # bare nine digits, no SSN word near
        "ticket 4155550134 closed",  # bare ten digits, no phone word near
        "ssn 000456789",  # area 000
        "card 4111 1111-1111.1111",  # mixed separators
        "version 4111.1111.1111.1112",  # Luhn fails
        "id xx89370400440532013000",  # no such country
        "de89370400440532013001",  # mod-97 fails
    ],
)
def test_formats_without_checksum_or_context_are_not_pii(raw: str) -> None:
    assert find_pii(raw) == ()


def test_raw_offsets_cut_exactly_the_value() -> None:
    raw = "A\u200bB 4\u200b111 1111\u2060 1111 1111, then ssn 123\u200b456789."
    spans = find_pii(raw)
    assert [raw[s.start : s.end] for s in spans] == [
        "4\u200b111 1111\u2060 1111 1111",
        "123\u200b456789",
    ]
    assert redact(raw, spans) == "A\u200bB [CARD], then ssn [SSN]."


def _luhn(body: str) -> str:
    return body + _luhn_check_digit(body)


def _iban(country: str, bban: str) -> str:
    n = int("".join(str(int(c, 36)) for c in bban + country + "00"))
    return f"{country}{98 - n % 97:02d}{bban}"


def _spread(value: str, marks: list[int], junk: str) -> str:
    """``value`` with zero-width characters inserted strictly inside it."""
    chars = list(value)
    for i, pos in enumerate(marks):
        at = 1 + pos % max(1, len(chars) - 1)
        chars.insert(at, junk[i % len(junk)])
    return "".join(chars)


def _grouped(value: str, sep: str) -> str:
    return sep.join(value[i : i + 4] for i in range(0, len(value), 4))


_IBAN_BASES = [
    _iban("DE", "370400440532013000"),
    _iban("GB", "WEST12345698765432"),
    _iban("NL", "ABNA0417164300"),
]
_CARD_VALUES = st.builds(
    lambda body, sep: _grouped(_luhn(body), sep),
    st.text("0123456789", min_size=15, max_size=15).map(lambda b: "4" + b[1:]),
    st.sampled_from([" ", "-", ".", "/", ""]),
)
_SSN_VALUES = st.builds(
    lambda a, g, s, sep: f"{a}{sep}{g:02d}{sep}{s:04d}",
    st.integers(100, 665),
    st.integers(1, 99),
    st.integers(1, 9999),
    st.sampled_from(["-", " ", "."]),
)
_IBAN_VALUES = st.builds(
    lambda v, sep, lower: _grouped(v, sep).lower() if lower else _grouped(v, sep),
    st.sampled_from(_IBAN_BASES),
    st.sampled_from([" ", ""]),
    st.booleans(),
)
_PII = st.one_of(
    st.tuples(st.just("card"), st.just(""), _CARD_VALUES),
    st.tuples(st.just("ssn"), st.just(""), _SSN_VALUES),
    st.tuples(
        st.just("ssn"),
        st.sampled_from(["SSN ", "ssn: ", "social security no. "]),
        st.builds(
            lambda a, g, s: f"{a}{g:02d}{s:04d}",
            st.integers(100, 665),
            st.integers(1, 99),
            st.integers(1, 9999),
        ),
    ),
    st.tuples(
        st.just("phone"),
        st.sampled_from(["call ", "phone: ", "tel. ", "mobile "]),
        st.builds(lambda n: f"{n:010d}", st.integers(2_000_000_000, 9_999_999_999)),
    ),
    st.tuples(st.just("iban"), st.just(""), _IBAN_VALUES),
    st.tuples(st.just("email"), st.just(""), st.sampled_from(["bob.smith@example.com"])),
)
_FILLER = st.lists(
    st.sampled_from(
        [
            "the",
            "money",
            "Send",
            "please",
            "NOW",
            "café",
            "(no)",
            "ok.",
            "wire",
            "x",
            "a\u200bb",
            "ﬁne",
            "y,",
            "Kіev",
        ]
    ),
    min_size=1,
    max_size=3,
).map(" ".join)


@settings(derandomize=True, max_examples=150, deadline=None)
@given(
    parts=st.lists(
        st.tuples(_FILLER, _PII, st.lists(st.integers(0, 40), max_size=4)), min_size=1, max_size=4
    ),
    tail=_FILLER,
    junk=st.text(_ZW, min_size=1, max_size=3),
)
def test_redaction_removes_every_pii_digit_and_nothing_else(
    parts: list[tuple[str, tuple[str, str, str], list[int]]], tail: str, junk: str
) -> None:
    raw, expected = [], []
    for filler, (kind, context, value), marks in parts:
        spread = _spread(value, marks, junk)
        raw.append(f"{filler} {context}{spread} ")
        expected.append(f"{filler} {context}[{kind.upper()}] ")
    raw.append(tail)
    expected.append(tail)
    text = "".join(raw)
    out = redact(text, find_pii(text))
    assert out == "".join(expected)
    assert not any(c.isdecimal() for c in out)


def test_long_texts_search_only_long_digit_runs_and_find_the_same() -> None:
    rng = random.Random(1)
    values = [
        "4111 1111 1111 1111",
        "4111.1111.1111.1111",
        "123-45-6789",
        "ssn 123456789",
        "call 4155550134",
        "+44 20 7946 0958",
        "(415) 555-0134",
        "DE89 3704 0044 0532 0130 00",
        "bob@example.com",
        "١٢٣-٤٥-٦٧٨٩",  # Arabic-Indic digits: the plain search
    ]
    noise = ["the", "2024", "12.5%", "x 7", "ok", "$19.99", "99 1 2 3", "-", "1 2 3 4 5 6 7 8 9 0"]
    for i in range(40):
        pool = values if i % 2 else values[:-1]  # half without non-ASCII digits: the NumPy runs
        parts = [rng.choice(noise if rng.random() < 0.9 else pool) for _ in range(1500)]
        text = " ".join(parts)
        assert len(text) > _pii._LONG_CHARS
        assert find_pii(text) == _ungated(text)
