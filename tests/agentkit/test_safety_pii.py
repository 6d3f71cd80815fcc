"""PII detection: checksums decide, and redaction replaces exactly the spans."""

from __future__ import annotations

import random

import pytest

from agentkit._safety_types import PIISpan
from agentkit.safety import _pii, find_pii, iban_valid, luhn_valid, redact


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
    p = _pii
    found = [PIISpan(kind="email", start=m.start(), end=m.end()) for m in p._EMAIL.finditer(text)]
    for kind, pattern, ok in (
        ("iban", p._IBAN, p.iban_valid),
        ("card", p._CARD, p.luhn_valid),
        ("ssn", p._SSN, lambda _: True),
        ("phone", p._PHONE, lambda g: sum(c.isdigit() for c in g) >= 9),
    ):
        found += [
            PIISpan(kind=kind, start=m.start(), end=m.end())
            for m in pattern.finditer(text)
            if ok(m.group())
        ]
    return p._non_overlapping(found)


def test_shape_gates_change_no_span() -> None:
    rng = random.Random(0)
    texts = [
        "".join(rng.choices("0123456789 -.()+@aBZ", k=rng.randint(0, 32))) for _ in range(20_000)
    ]
    texts += ["Card 4111 1111 1111 1111, IBAN GB82 WEST 1234 5698 7654 32, SSN 123-45-6789"]
    for text in texts:
        assert find_pii(text) == _ungated(text), text
