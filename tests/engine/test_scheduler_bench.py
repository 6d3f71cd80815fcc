"""The batching benchmark runs end to end (slow: real model, three modes)."""

from __future__ import annotations

import pathlib

import pytest

from engine import Engine
from engine.bench.batching import MODES, run_batching_bench


@pytest.mark.slow
def test_batching_bench_quick(default_engine: Engine, tmp_path: pathlib.Path) -> None:
    png = tmp_path / "b.png"
    bench = run_batching_bench(
        concurrency=(1, 2), requests_per_client=1, quick=True, engine=default_engine, plot=str(png)
    )
    data = bench.to_json()["concurrency"]
    assert set(data) == {"1", "2"}
    for n in ("1", "2"):
        assert set(data[n]) == set(MODES)
        for mode in MODES:
            r = data[n][mode]
            assert r["tokens_per_s"] > 0 and r["p99_ms"] >= r["p50_ms"] > 0
            assert r["ttft_p99_ms"] <= r["p99_ms"] and r["requests"] == int(n)
    # static runs on the scheduler's settings: the compute thread, the prefix cache
    assert data["2"]["static"]["threads"] > 0 and data["2"]["static"]["prefix_hit_rate"] >= 0
    assert png.stat().st_size > 0 and bench.unloaded_short_ms > 0
    assert default_engine.cache.free_slots == default_engine.cache.n_slots


@pytest.mark.slow
def test_padded_static_baseline_counts_its_pad_rows(default_engine: Engine) -> None:
    bench = run_batching_bench(
        concurrency=(2,), requests_per_client=1, quick=True, engine=default_engine,
        modes=("static_padded",),
    )  # fmt: skip
    assert bench.results[2]["static_padded"].padding_fraction > 0  # two prompt lengths
