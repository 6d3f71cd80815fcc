"""The row-cost benchmark: its arithmetic, and one quick run over every path."""

from __future__ import annotations

import pytest

from engine import kernels
from engine.bench.row_cost import RowCost, main, measure_row_cost


def test_ratio_and_extra_row_cost() -> None:
    res = RowCost("avx2", {1: [0.010, 0.012, 0.011], 4: [0.020, 0.017, 0.016]}, act_quant=True)
    assert res.median(1) == pytest.approx(0.011) and res.median(4) == pytest.approx(0.017)
    assert res.ratio(4) == pytest.approx(17 / 11)
    assert res.extra_row(4) == pytest.approx((17 / 11 - 1) / 3)  # per extra row, of a 1-row step
    assert res.extra_row(1) == 0.0


def test_quick_run_times_each_path_and_restores_the_default(
    capsys: pytest.CaptureFixture[str],
) -> None:
    paths = list(kernels.available_paths())[:2]  # the slow portable one only where it is all
    results = measure_row_cost(paths, rows=(1, 2), rounds=2, budget_s=0.01)
    assert [r.path for r in results] == paths
    assert all(len(r.samples[k]) == 2 and min(r.samples[k]) > 0 for r in results for k in (1, 2))
    assert kernels.kernel_path() == kernels.available_paths()[0]  # back to the default
    main(["--paths", paths[0], "--rows", "1", "2", "--rounds", "1", "--budget", "0.01"])
    out = capsys.readouterr().out
    assert paths[0] in out and "load average" in out
