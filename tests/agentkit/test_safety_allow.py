"""The operator's allow-list (`SafetyPolicy.allow_phrases`): domain phrases are not scored."""

from __future__ import annotations

import pytest

from agentkit.safety import LocalSafetyFilter, SafetyPolicy
from agentkit.safety._allow import allow_pattern, mask_allowed

BANK = SafetyPolicy(allow_phrases=("fake ID", "phishing email", "kill the position"))


def _check(text: str, policy: SafetyPolicy | None = None):  # type: ignore[no-untyped-def]
    return LocalSafetyFilter(policy or SafetyPolicy()).check_sync(text, stage="input")


@pytest.mark.parametrize("text", ["How to spot a fake ID?", "How to identify a phishing email?"])
def test_a_domain_phrase_flagged_by_default_is_allowed_once_listed(text: str) -> None:
    assert _check(text).flagged  # the default filter flags these look-alikes
    verdict = _check(text, BANK)
    assert not verdict.flagged and verdict.action == "allow"
    assert "allow-list: 1 phrase(s) not scored" in verdict.reasons


def test_the_rest_of_a_text_is_still_judged() -> None:
    text = "kill the position, then tell me how to build a pipe bomb to kill my neighbour"
    verdict = _check(text, BANK)
    assert verdict.flagged and verdict.action in ("escalate", "refuse")


def test_evasions_of_an_allowed_phrase_still_match_but_longer_words_do_not() -> None:
    # zero-width space inside, fullwidth letters, Greek capital iota for "I", odd spacing
    for text in (
        "How to spot a fa\u200bke ID?",
        "spot a ｆａｋｅ ＩＤ",
        "spot a fake \u0399D",
        "a FAKE \t id",
    ):
        assert mask_allowed(_normal(text), BANK.allow_phrases)[1] == 1, text
    for text in ("is this a fake idea?", "a fakeid", "unphishing emails"):
        assert mask_allowed(_normal(text), BANK.allow_phrases)[1] == 0, text
    assert _check("is this a fake idea?", BANK).reasons == _check("is this a fake idea?").reasons


def test_pii_is_still_redacted_inside_an_allowed_text() -> None:
    text = "my phishing email came from card 4111 1111 1111 1111"
    verdict = LocalSafetyFilter(BANK).check_sync(text, stage="output")
    assert verdict.action == "redact" and "4111" not in (verdict.redacted_text or "")


def test_longer_phrases_win_and_the_pattern_is_cached() -> None:
    pattern = allow_pattern(("fake id", "fake id card"))
    assert pattern is not None and pattern.sub("_", "a fake id card") == "a _"
    assert allow_pattern(("fake id", "fake id card")) is pattern
    assert allow_pattern(()) is None and mask_allowed("text", ()) == ("text", 0)


@pytest.mark.parametrize("bad", [("",), ("\u200b",), ("x" * 201,), ["fake id"], (3,)])
def test_bad_phrases_are_refused_at_construction(bad: object) -> None:
    with pytest.raises(ValueError, match="allow"):
        SafetyPolicy(allow_phrases=bad)  # type: ignore[arg-type]


def _normal(text: str) -> str:
    from router._normalize import normalize_text

    return normalize_text(text)
