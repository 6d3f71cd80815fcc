"""``agentkit bench load``: the summary's arithmetic, and one real run against real servers."""

from __future__ import annotations

import pytest

from agentkit.bench._load import LoadBench, LoadRound, run_load_bench, summarise_load

KINDS = ["customer_service", "long", "customer_service"]


def _round(mode: str, wall: float, e2e: list[float], texts: list[str] | None = None) -> LoadRound:
    return LoadRound(mode, wall, 30, e2e, KINDS, texts or ["a", "b", "c"])


def _bench() -> LoadBench:
    return LoadBench(clients=3, rounds=2, threads=2, slots=3, server_args=[])


def test_speedup_is_taken_round_by_round_and_cs_latency_pools_rounds() -> None:
    runs = [
        (_round("sequential", 6.0, [0.1, 2.0, 0.3]), _round("concurrent", 2.0, [0.5, 2.0, 0.4])),
        (_round("sequential", 8.0, [0.2, 2.0, 0.2]), _round("concurrent", 2.0, [0.6, 2.0, 0.9])),
    ]
    bench = summarise_load(_bench(), runs)
    assert bench.speedup == {"median": 3.5, "low": 3.0, "high": 4.0, "n": 2}
    assert (bench.sequential_s["median"], bench.concurrent_s["median"]) == (7.0, 2.0)
    # customer-service turns only (the "long" ones at 2 s are left out)
    assert bench.cs_alone_ms == pytest.approx(200.0)  # median of 0.1, 0.3, 0.2, 0.2
    # p99 of 0.5, 0.4, 0.6, 0.9 by the benchmarks' one convention (agentkit.bench.stats:
    # the measured sample nearest rank 0.99 * 3), not numpy's interpolation (891 ms)
    assert bench.cs_p99_loaded_ms == pytest.approx(900.0)
    assert bench.cs_p99_ratio == pytest.approx(bench.cs_p99_loaded_ms / 200.0)
    assert bench.same_text and bench.tokens == {"sequential": 30, "concurrent": 30}
    assert "texts" not in bench.rounds_detail[0]["sequential"]


def test_different_answers_between_modes_are_reported_not_hidden() -> None:
    runs = [
        (
            _round("sequential", 1.0, [0.1] * 3),
            _round("concurrent", 1.0, [0.1] * 3, ["a", "x", "c"]),
        )
    ]
    assert summarise_load(_bench(), runs).same_text is False


def test_mismatched_pairs_and_no_rounds_are_refused() -> None:
    seq = _round("sequential", 1.0, [0.1] * 3)
    with pytest.raises(ValueError, match="no rounds"):
        summarise_load(_bench(), [])
    with pytest.raises(ValueError, match="sequential, concurrent"):
        summarise_load(_bench(), [(seq, seq)])
    for clients, rounds, slots in ((0, 1, None), (1, 0, None), (1, 1, 0)):
        with pytest.raises(ValueError, match="clients, rounds and slots"):
            run_load_bench(clients=clients, rounds=rounds, slots=slots)


def test_a_real_run_on_two_servers_answers_alike_in_both_modes() -> None:
    bench = run_load_bench(clients=3, rounds=1, threads=1, scale=0.1)
    assert bench.slots == 3 and bench.server_args[:2] == ["--slots", "3"]
    detail = bench.rounds_detail[0]
    assert set(detail) == {"sequential", "concurrent"}
    assert all(len(detail[m]["e2e_s"]) == 3 for m in detail)
    # greedy, and batched decoding equals decoding alone: the same answers in both modes
    assert bench.same_text and bench.tokens["sequential"] == bench.tokens["concurrent"] > 0
    assert bench.speedup["median"] > 0 and bench.cs_alone_ms > 0
