"""`agentkit bench http` plumbing: real `agentkit serve` children, the official client."""

from __future__ import annotations

import pytest

from agentkit.bench._http import HttpRow, _rate, run_http_bench

pytest.importorskip("engine")


def test_http_bench_times_both_of_our_server_modes_on_every_task() -> None:
    bench = run_http_bench(threads=1, new_tokens=4, repeats=1, with_llamacpp=False)
    servers = {r.server for r in bench.rows}
    assert servers == {"agentkit", "agentkit+spec"}
    assert len({r.task for r in bench.rows}) == 4 and len(bench.rows) == 8
    for row in bench.rows:
        assert 0 < row.completion_tokens <= 4
        assert row.ttft_ms > 0 and row.e2e_tokens_per_s > 0
    assert bench.ratio_e2e_vs_llamacpp is None and bench.ratio_e2e_spec_vs_llamacpp is None


def test_rate_is_total_tokens_over_total_time() -> None:
    rows = [HttpRow("a", "x", 10, 1.0, 10.0), HttpRow("a", "y", 30, 1.0, 10.0)]
    assert _rate(rows, "a") == pytest.approx(40 / 4.0)  # 1 s + 3 s
    assert _rate(rows, "b") == 0.0
