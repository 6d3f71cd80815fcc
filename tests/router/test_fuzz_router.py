"""Fuzzing `LayeredRouter` on hostile Unicode: its public contract, never its scores.

The router and its model will be retrained, so nothing here pins a score or a tier.
What must hold for any text, history, safety scores and stream statistics:
``route`` and ``scores`` return, quickly, a well-formed decision — a tier of
``fast``/``deep``, one finite score in [0, 1] per reason, human-readable reasons —
and no internal error is hidden behind the policy's fallback decision.
"""

from __future__ import annotations

import faulthandler
import math
import time
from collections.abc import Iterator

import pytest
from _hostile_text import HOSTILE_TEXT, LONG_TEXT
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from router import REASONS, Decision, LayeredRouter, RouteContext, StreamSignals

FAST = settings(
    derandomize=True,
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
LONG = settings(FAST, max_examples=2000)
ROUTER = LayeredRouter()
SCORES = st.dictionaries(
    st.text(max_size=12),
    st.floats(min_value=0.0, max_value=1.0) | st.floats(),
    max_size=4,
)
CONTEXTS = st.builds(
    RouteContext,
    message=HOSTILE_TEXT,
    history=st.lists(HOSTILE_TEXT, max_size=3).map(tuple),
    tool_results=st.lists(HOSTILE_TEXT, max_size=2).map(tuple),
    safety_scores=SCORES,
    flagged=st.booleans(),
)


@pytest.fixture(autouse=True)
def _hang_watchdog() -> Iterator[None]:
    """End a frozen run (a regex holding the GIL) with every thread's stack."""
    faulthandler.dump_traceback_later(120, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


def _well_formed(decision: Decision) -> None:
    assert isinstance(decision, Decision)
    assert decision.tier in ("fast", "deep")
    assert decision.reasons and all(isinstance(r, str) and r for r in decision.reasons)
    assert not any("router error" in r for r in decision.reasons), decision.reasons
    for name, score in decision.scores.items():
        assert isinstance(name, str) and isinstance(score, float), (name, score)
        assert math.isfinite(score) and 0.0 <= score <= 1.0, (name, score)


def _check_route(context: RouteContext, budget_s: float) -> None:
    start = time.perf_counter()
    decision = ROUTER.route(context)
    assert time.perf_counter() - start < budget_s, len(context.message)
    _well_formed(decision)
    assert set(decision.scores) == set(REASONS)
    scores = ROUTER.scores(context)
    assert set(scores) == set(REASONS)
    assert all(math.isfinite(s) and 0.0 <= s <= 1.0 for s in scores.values()), scores


@FAST
@given(context=CONTEXTS)
def test_route_is_well_formed_on_hostile_text(context: RouteContext) -> None:
    _check_route(context, budget_s=1.0)


@settings(FAST, max_examples=8)
@given(message=LONG_TEXT)
def test_route_is_well_formed_and_bounded_on_long_text(message: str) -> None:
    _check_route(RouteContext(message=message, history=(message,)), budget_s=2.0)


@FAST
@given(
    context=CONTEXTS,
    tokens=st.integers(min_value=-(2**40), max_value=2**40),
    drafted=st.integers(min_value=-(2**40), max_value=2**40),
    accepted=st.integers(min_value=-(2**40), max_value=2**40),
    rate=st.floats(),
    logprob=st.none() | st.floats(),
)
def test_should_escalate_is_none_or_well_formed(
    context: RouteContext, tokens: int, drafted: int, accepted: int, rate: float, logprob: float
) -> None:
    stats = StreamSignals(tokens, drafted, accepted, rate, logprob)
    decision = ROUTER.should_escalate(context, stats)
    if decision is not None:
        _well_formed(decision)
        assert decision.tier == "deep"


@pytest.mark.slow
@LONG
@given(context=CONTEXTS)
def test_route_is_well_formed_on_hostile_text_long(context: RouteContext) -> None:
    _check_route(context, budget_s=1.0)


@pytest.mark.slow
@settings(FAST, max_examples=200)
@given(message=LONG_TEXT)
def test_route_on_long_text_long(message: str) -> None:
    _check_route(RouteContext(message=message, history=(message,)), budget_s=2.0)
