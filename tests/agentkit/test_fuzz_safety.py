"""Fuzzing `LocalSafetyFilter` on hostile Unicode: its public contract, never its scores.

The safety model will be retrained, so nothing here pins a score or an action.
What must hold for any text at any stage: ``check`` returns, quickly, a
well-formed verdict (a known action, finite category and injection scores in
[0, 1], PII spans inside the text, a redacted text when the action is
``redact``), and no internal error hides behind the policy's fallback verdict.
The filter then the router, on the same text, as a turn runs them, hold too.
"""

from __future__ import annotations

import faulthandler
import math
import time
from collections.abc import Iterator

import anyio
import pytest
from _hostile_text import HOSTILE_TEXT, LONG_TEXT
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentkit._safety_types import SafetyStage, SafetyVerdict
from agentkit.safety import CATEGORIES, LocalSafetyFilter
from router import REASONS, LayeredRouter, RouteContext

FAST = settings(
    derandomize=True,
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
LONG = settings(FAST, max_examples=2000)
FILTER = LocalSafetyFilter()
STAGES = st.sampled_from(["input", "output", "tool_result"])


@pytest.fixture(autouse=True)
def _hang_watchdog() -> Iterator[None]:
    """End a frozen run (a regex holding the GIL) with every thread's stack."""
    faulthandler.dump_traceback_later(120, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


def _unit(value: float) -> bool:
    return isinstance(value, float) and math.isfinite(value) and 0.0 <= value <= 1.0


def _well_formed(verdict: SafetyVerdict, text: str) -> None:
    assert isinstance(verdict, SafetyVerdict)
    assert not any("safety check error" in r for r in verdict.reasons), verdict.reasons
    assert verdict.action in ("allow", "redact", "escalate", "refuse")
    assert set(verdict.categories) == set(CATEGORIES)
    assert all(_unit(v) for v in verdict.categories.values()), verdict.categories
    assert _unit(verdict.injection), verdict.injection
    assert math.isfinite(verdict.latency_ms) and verdict.latency_ms >= 0.0
    for span in verdict.pii:
        assert 0 <= span.start < span.end <= len(text), (span, len(text))
    if verdict.action == "redact":
        assert isinstance(verdict.redacted_text, str)


def _check(text: str, stage: SafetyStage, budget_s: float) -> SafetyVerdict:
    start = time.perf_counter()
    verdict = FILTER.check_sync(text, stage=stage)
    assert time.perf_counter() - start < budget_s, len(text)
    _well_formed(verdict, text)
    return verdict


@FAST
@given(text=HOSTILE_TEXT, stage=STAGES)
def test_check_is_well_formed_on_hostile_text(text: str, stage: SafetyStage) -> None:
    _check(text, stage, budget_s=1.0)


@settings(FAST, max_examples=6)
@given(text=LONG_TEXT, stage=STAGES)
def test_check_is_well_formed_and_bounded_on_long_text(text: str, stage: SafetyStage) -> None:
    _check(text, stage, budget_s=3.0)


@settings(FAST, max_examples=60)
@given(text=HOSTILE_TEXT, tier=st.sampled_from(["fast", "deep", ""]))
def test_safety_then_router_as_a_turn_runs_them(text: str, tier: str) -> None:
    verdict = anyio.run(lambda: FILTER.check(text, stage="input"))
    _well_formed(verdict, text)
    context = RouteContext(message=text, safety_scores=verdict.categories, flagged=verdict.flagged)
    decision = LayeredRouter().route(context)
    assert decision.tier in ("fast", "deep") and set(decision.scores) == set(REASONS)
    assert not any("router error" in r for r in decision.reasons)
    assert isinstance(FILTER.redact_for_tier(text, tier), str)


@pytest.mark.slow
@LONG
@given(text=HOSTILE_TEXT, stage=STAGES)
def test_check_on_hostile_text_long(text: str, stage: SafetyStage) -> None:
    _check(text, stage, budget_s=1.0)


@pytest.mark.slow
@settings(FAST, max_examples=200)
@given(text=LONG_TEXT, stage=STAGES)
def test_check_on_long_text_long(text: str, stage: SafetyStage) -> None:
    _check(text, stage, budget_s=3.0)
