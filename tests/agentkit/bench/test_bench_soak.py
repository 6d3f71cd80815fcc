"""`agentkit bench soak`: the checks' logic and the seeded mix (a real run: test_bench_soak_run)."""

from __future__ import annotations

import dataclasses
import random

import pytest

from agentkit.bench._soak import SoakSamples, evaluate, series, server_5xx
from agentkit.bench._soak_mix import KINDS, Deck, Outcome


def _good(start: float, latency: float) -> Outcome:
    return Outcome("chat", "good", start, latency, 200, True, False)


def _samples(**overrides: object) -> SoakSamples:
    base = SoakSamples(
        duration_s=120.0, rss_mid_kb=100_000, rss_end_kb=101_000, series_mid=70, series_end=70,
        health_end={"in_flight": 0, "slots_in_use": 0, "slots_total": 4}, server_alive=True,
    )  # fmt: skip
    return dataclasses.replace(base, **overrides)


def _steady(first_ms: float = 100.0, last_ms: float = 100.0) -> list[Outcome]:
    """30 good requests in the first quarter and 30 in the last (of a 120 s run)."""
    first = [_good(i * 0.9, first_ms / 1e3) for i in range(30)]
    return first + [_good(90 + i * 0.9, last_ms / 1e3) for i in range(30)]


def _verdicts(outcomes: list[Outcome], samples: SoakSamples) -> dict[str, bool | None]:
    return {c.name: c.passed for c in evaluate(outcomes, samples)}


def test_a_healthy_run_passes_every_check() -> None:
    verdicts = _verdicts(_steady(), _samples())
    assert verdicts == dict.fromkeys(
        ["slots_free", "rss_growth", "metrics_series", "no_5xx", "p99_drift", "good_succeed",
         "bad_refused", "server_alive"], True,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("samples", "outcomes", "failing"),
    [
        (_samples(health_end={"slots_in_use": 1, "slots_total": 4}), [], "slots_free"),
        (_samples(rss_end_kb=100_000 + 5 * 1024), [], "rss_growth"),
        (_samples(series_end=71, new_series=['x{endpoint="soak-1"}']), [], "metrics_series"),
        (_samples(), [Outcome("cancel", "cancelled", 1, 0.1, 200, False, True, "x")], "no_5xx"),
        (_samples(server_5xx=1), [], "no_5xx"),  # recorded for a client that hung up
        (_samples(), [Outcome("bad_seed", "bad", 1, 0.1, 200, False, False, "200")], "bad_refused"),
        (_samples(server_alive=False), [], "server_alive"),
    ],
)  # fmt: skip
def test_each_check_fails_on_its_own_fault(
    samples: SoakSamples, outcomes: list[Outcome], failing: str
) -> None:
    checks = evaluate(_steady() + outcomes, samples)
    assert [c.name for c in checks if c.passed is False] == [failing]
    assert next(c for c in checks if c.name == failing).detail  # says why


def test_p99_drift_fails_past_one_and_a_half_and_skips_on_few_samples() -> None:
    assert _verdicts(_steady(100, 150), _samples())["p99_drift"] is True
    assert _verdicts(_steady(100, 151), _samples())["p99_drift"] is False
    few = [_good(1.0, 0.1), _good(100.0, 9.0)]
    assert _verdicts(few, _samples())["p99_drift"] is None


def test_rss_growth_is_judged_only_over_a_second_half_of_a_minute_or_more() -> None:
    grown = 100_000 + 5 * 1024  # +5 MB: fails when judged
    assert _verdicts(_steady(), _samples(rss_end_kb=grown))["rss_growth"] is False
    short = next(
        c
        for c in evaluate([], _samples(duration_s=119.0, rss_end_kb=grown))
        if c.name == "rss_growth"
    )
    assert short.passed is None and "+5.0 MB" in short.value and "59.5 s < 60 s" in short.detail


def test_slots_without_the_health_fields_are_reported_as_not_verified() -> None:
    for health in ({"status": "ok", "in_flight": 0}, {"slots_in_use": None, "slots_total": None}):
        check = evaluate([], _samples(health_end=health))[0]
        assert check.name == "slots_free" and check.passed is None
        assert "slots_in_use" in check.detail


def test_p99_drift_of_an_empty_window_shows_no_number() -> None:
    # agentkit.bench.stats.percentile refuses an empty list: the check shows "-", not a 0 ms p99
    check = next(c for c in evaluate([_good(100.0, 0.25)], _samples()) if c.name == "p99_drift")
    assert check.passed is None
    assert check.value == "first - ms (n=0), last 250 ms (n=1)"


def test_series_are_name_and_labels_with_their_values() -> None:
    text = '# HELP a x\na_total{e="chat",s="200"} 3.0\nb 1.0\n\n'
    assert series(text) == {'a_total{e="chat",s="200"}': 3.0, "b": 1.0}


def test_server_5xx_sums_the_request_counter_over_5xx_statuses() -> None:
    text = (
        'agentkit_server_requests_total{endpoint="/v1/completions",status="500"} 2.0\n'
        'agentkit_server_requests_total{endpoint="/health",status="503"} 1.0\n'
        'agentkit_server_requests_total{endpoint="/v1/completions",status="499"} 7.0\n'
        'agentkit_server_requests_created{endpoint="/v1/completions",status="500"} 1.7e9\n'
    )
    assert server_5xx(series(text)) == 3


def test_the_deck_holds_every_kind_and_depends_on_the_seed_alone() -> None:
    size = sum(k.copies for k in KINDS)
    deck = Deck(random.Random(7))
    dealt = [deck.deal().name for _ in range(3 * size)]
    for i in range(3):
        assert sorted(dealt[i * size : (i + 1) * size]) == sorted(
            k.name for k in KINDS for _ in range(k.copies)
        )
    again = Deck(random.Random(7))
    assert [again.deal().name for _ in range(3 * size)] == dealt
    groups = {k.group for k in KINDS}
    assert groups == {"good", "bad", "cancelled", "disconnected"}
