"""`engine.bench.bandwidth`: the read-bandwidth bound on decoding."""

from __future__ import annotations

import pytest

from engine.bench.bandwidth import decode_bound, measure_read_bandwidth
from engine.bench.decode import BenchResult, _bandwidth_fraction


def test_decode_bound_is_bandwidth_over_model_bytes() -> None:
    # The figures: ~35 GB/s and a 98 MB Q4_1 file bound decoding near 356 tok/s.
    assert decode_bound(34.9, 98_000_000) == pytest.approx(356.1, abs=0.1)
    with pytest.raises(ValueError):
        decode_bound(0.0, 1)
    with pytest.raises(ValueError):
        decode_bound(1.0, 0)


def test_measure_read_bandwidth_reports_every_round() -> None:
    bw = measure_read_bandwidth(threads=1, buffer_mb=16, rounds=3)
    assert len(bw.rounds_gb_per_s) == 3 and bw.gb_per_s == max(bw.rounds_gb_per_s) > 0
    assert bw.threads == 1 and bw.buffer_mb == 16
    with pytest.raises(ValueError):
        measure_read_bandwidth(threads=0)


def _row(engine: str, task: str, rate: float) -> BenchResult:
    return BenchResult(engine, task, 10, 16, 1.0, rate, 1.0, 1.0, 1.0)  # type: ignore[arg-type]


def test_fraction_is_our_median_short_task_rate_over_the_bound(tmp_path: object) -> None:
    from pathlib import Path

    model = Path(str(tmp_path)) / "m.gguf"
    model.write_bytes(bytes(1_000_000))  # 1 MB: at 1 GB/s the bound is 1000 tok/s
    rows = [
        _row("agentkit", "a", 400.0),
        _row("agentkit", "b", 500.0),
        _row("agentkit", "c", 900.0),
        _row("agentkit", "long_prompt", 10.0),  # the long-prompt task is left out
        _row("llama.cpp", "a", 999.0),  # the peer's rows are left out
    ]
    bound, fraction = _bandwidth_fraction({"gb_per_s": 1.0}, str(model), rows)
    assert bound == pytest.approx(1000.0)
    assert fraction == pytest.approx(0.5)
    assert _bandwidth_fraction(None, str(model), rows) == (None, None)
