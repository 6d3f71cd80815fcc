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
    assert data["2"]["static"]["padding_fraction"] > 0  # two different prompt lengths
    assert png.stat().st_size > 0 and bench.unloaded_short_ms > 0
    assert default_engine.cache.free_slots == default_engine.cache.n_slots
