"""`LayeredRouter`: policy switches, fallbacks, mid-stream signals, bad input."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from router import (
    REASONS,
    Decision,
    LayeredRouter,
    RouteContext,
    Router,
    RouterPolicy,
    RuleRouter,
    StreamSignals,
)

MATH = "A baker sells 24 muffins at $3 each and 18 cakes at $12 each. How much money in total?"
LOGIC = (
    "All birds can fly. Penguins are birds. If something cannot fly, it is not a bird. "
    "Penguins cannot fly. Therefore, which statement is false?"
)
ROUTINE = "Can you help me reset my online banking password?"


def _route(text: str, policy: RouterPolicy | None = None, flagged: bool = False) -> Decision:
    return LayeredRouter(policy or RouterPolicy()).route(
        RouteContext(message=text, flagged=flagged)
    )


def test_is_a_router_with_every_reason_scored() -> None:
    router = LayeredRouter()
    assert isinstance(router, Router)
    d = router.route(RouteContext(message=MATH))
    assert set(d.scores) == set(REASONS)
    assert all(0.0 <= s <= 1.0 for s in d.scores.values())
    assert d.reasons


def test_math_and_logic_go_deep_routine_stays_fast() -> None:
    router = LayeredRouter()
    d_math = router.route(RouteContext(message=MATH))
    assert d_math.tier == "deep" and "arithmetic" in d_math.reasons[0]
    assert router.route(RouteContext(message=LOGIC)).tier == "deep"
    d = router.route(RouteContext(message=ROUTINE))
    assert d.tier == "fast" and d.reasons[0].startswith("routine")


def test_flagged_input_goes_deep_unless_never_deep() -> None:
    assert _route(ROUTINE, flagged=True).tier == "deep"
    never = RouterPolicy(never_deep=frozenset({"code", "flagged"}))
    assert _route(ROUTINE, never, flagged=True).tier == "fast"


def test_code_is_scored_but_not_escalated_by_default() -> None:
    code = 'def fibonacci(n: int) -> int:\n    """Return the n-th Fibonacci number."""\n'
    d = LayeredRouter().route(RouteContext(message=code))
    assert d.scores["code"] > 0.5
    assert d.tier == "fast"
    forced = RouterPolicy(never_deep=frozenset(), always_deep=frozenset({"code"}))
    assert LayeredRouter(forced).route(RouteContext(message=code)).tier == "deep"


def test_threshold_and_preference_switches() -> None:
    strict = RouterPolicy(thresholds={"math": 1.0, "logic": 1.0, "depth": 1.0})
    assert LayeredRouter(strict).route(RouteContext(message=MATH)).tier == "fast"
    assert RouterPolicy(preference="quality").threshold("math") < RouterPolicy().threshold("math")
    assert RouterPolicy(preference="latency").threshold("math") > RouterPolicy().threshold("math")


def test_long_context_and_depth() -> None:
    history = ("x" * 30_000,)
    d = LayeredRouter().route(RouteContext(message=ROUTINE, history=history))
    assert d.tier == "deep" and d.scores["long_context"] > 0.5
    d = LayeredRouter().route(RouteContext(message="Think step by step and prove your answer."))
    assert d.tier == "deep" and d.scores["depth"] >= 0.5


def test_policy_is_validated() -> None:
    with pytest.raises(ValueError):
        RouterPolicy(thresholds={"nonsense": 0.5})
    with pytest.raises(ValueError):
        RouterPolicy(thresholds={"math": 1.5})
    with pytest.raises(ValueError):
        RouterPolicy(always_deep=frozenset({"math"}), never_deep=frozenset({"math"}))
    with pytest.raises(ValueError):
        RouterPolicy(preference="cheap")  # type: ignore[arg-type]


GARBAGE = [
    "",
    " ",
    "\x00" * 100,
    "a" * 1_000_000,
    os.urandom(2000).decode("latin-1"),
    "Привет мир 你好 مرحبا hello 123 + 456 = ?",
    "\u200b" * 500,
    "\ud800\udfff",
    "🙂" * 3000,
]


@pytest.mark.parametrize("text", GARBAGE, ids=range(len(GARBAGE)))
def test_route_never_raises(text: str) -> None:
    d = LayeredRouter().route(RouteContext(message=text, history=(text,), tool_results=(text,)))
    assert d.tier in ("fast", "deep")


def test_missing_model_falls_back_by_policy(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.npz")
    d = LayeredRouter(RouterPolicy(model_path=missing)).route(RouteContext(message=MATH))
    assert d.tier == "deep"  # layer 1 alone still sees the arithmetic
    assert (
        LayeredRouter(RouterPolicy(model_path=missing)).route(RouteContext(message=ROUTINE)).tier
        == "fast"
    )
    deep = RouterPolicy(model_path=missing, on_model_error="deep")
    d = LayeredRouter(deep).route(RouteContext(message=ROUTINE))
    assert d.tier == "deep" and "unavailable" in d.reasons[0]


def test_corrupt_model_file_is_a_safe_default(tmp_path: Path) -> None:
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip file at all")
    d = LayeredRouter(RouterPolicy(model_path=str(bad))).route(RouteContext(message=ROUTINE))
    assert d.tier == "fast"


def test_should_escalate_on_acceptance_collapse() -> None:
    router, ctx = LayeredRouter(), RouteContext(message=ROUTINE)
    assert (
        router.should_escalate(
            ctx, StreamSignals(tokens=40, drafted=40, accepted=38, acceptance_rate=0.95)
        )
        is None
    )
    # the shipped drafters' ordinary acceptance (~0.4) is no reason to escalate ...
    ordinary = StreamSignals(tokens=40, drafted=40, accepted=16, acceptance_rate=0.4)
    assert router.should_escalate(ctx, ordinary) is None
    # ... a collapse below the policy's floor is
    d = router.should_escalate(
        ctx, StreamSignals(tokens=40, drafted=40, accepted=2, acceptance_rate=0.05)
    )
    assert d is not None and d.tier == "deep" and "acceptance" in d.reasons[0]
    # Too few drafts to judge: no decision yet.
    assert router.should_escalate(ctx, StreamSignals(drafted=4, acceptance_rate=0.0)) is None


def test_should_escalate_on_low_confidence() -> None:
    router, ctx = LayeredRouter(), RouteContext(message=ROUTINE)
    low = StreamSignals(tokens=32, mean_logprob=-3.5)
    d = router.should_escalate(ctx, low)
    assert d is not None and "logprob" in d.reasons[0]
    assert router.should_escalate(ctx, StreamSignals(tokens=32, mean_logprob=-0.4)) is None
    assert router.should_escalate(ctx, StreamSignals(tokens=4, mean_logprob=-5.0)) is None


def test_rule_router_still_works() -> None:
    assert RuleRouter().route(RouteContext(message="what is 2 + 2")).tier == "deep"


def test_code_with_arithmetic_words_stays_fast() -> None:
    prompt = (
        "def sum_of_squares(nums: list[int]) -> int:\n"
        '    """Return the sum of the squares of the integers. How many are odd?\n'
        "    >>> sum_of_squares([1, 2, 3])\n"
        "    14\n"
        '    """\n'
    )
    d = LayeredRouter().route(RouteContext(message=prompt))
    assert d.tier == "fast"
    assert d.scores["code"] >= 0.5
