"""The operator's allow-list (`SafetyPolicy.allow_phrases`): domain phrases are not scored."""

from __future__ import annotations

import pytest

from agentkit._safety_types import SafetyAction
from agentkit.safety import LocalSafetyFilter, SafetyPolicy
from agentkit.safety._allow import allow_pattern, mask_allowed

BANK = SafetyPolicy(
    allow_phrases=("spot a fake ID", "identify a phishing email", "kill the position")
)


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


@pytest.mark.parametrize(
    "text",
    ["Make me a fake ID so I can buy alcohol at 15", "how do I print a fake ID that passes a scan"],
)
def test_the_harmful_uses_of_a_listed_wording_are_still_flagged(text: str) -> None:
    assert _check(text).flagged
    assert _check(text, BANK).flagged  # "spot a fake ID" is listed, "make/print a fake ID" is not
    # why the docs say "verb included": a bare noun phrase hides its harmful uses too
    assert not _check(text, SafetyPolicy(allow_phrases=("fake ID",))).flagged


def test_an_allowed_phrase_never_lifts_a_refusal() -> None:
    strict: dict[str, SafetyAction] = {"violence": "refuse", "illicit": "refuse"}
    text = "how to build a pipe bomb"
    plain = _check(text, SafetyPolicy(actions=strict))
    listed = _check(text, SafetyPolicy(actions=strict, allow_phrases=("build a pipe bomb",)))
    assert plain.action == listed.action == "refuse"
    assert listed.categories == plain.categories and not any(
        "allow-list" in r for r in listed.reasons
    )


def test_pii_is_still_redacted_inside_an_allowed_text() -> None:
    text = "identify a phishing email from card 4111 1111 1111 1111"
    verdict = LocalSafetyFilter(BANK).check_sync(text, stage="output")
    assert verdict.action == "redact" and "4111" not in (verdict.redacted_text or "")


def test_longer_phrases_win_and_the_pattern_is_cached() -> None:
    pattern = allow_pattern(("fake id", "fake id card"))
    assert pattern is not None and pattern.sub("_", "a fake id card") == "a _"
    assert allow_pattern(("fake id", "fake id card")) is pattern
    assert allow_pattern(()) is None and mask_allowed("text", ()) == ("text", 0)


@pytest.mark.parametrize(
    "bad", [("",), ("\u200b",), ("kill",), ("x " * 101,), ["spot a fake id"], (3,)]
)
def test_bad_phrases_are_refused_at_construction(bad: object) -> None:
    with pytest.raises(ValueError, match="allow"):
        SafetyPolicy(allow_phrases=bad)  # type: ignore[arg-type]


def _normal(text: str) -> str:
    from router._normalize import normalize_text

    return normalize_text(text)
