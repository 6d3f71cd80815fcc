"""The row-cost benchmark: its arithmetic, a quick run over the paths, and its CLI."""

from __future__ import annotations

import json
import pathlib
import time

import pytest
import torch

from engine import kernels
from engine.bench.row_cost import RowCost, measure_row_cost, run_row_cost


def test_ratio_and_extra_row_cost() -> None:
    res = RowCost("avx2", {1: [0.010, 0.012, 0.011], 4: [0.020, 0.017, 0.016]}, act_quant=True)
    assert res.median(1) == pytest.approx(0.011) and res.median(4) == pytest.approx(0.017)
    assert res.ratio(4) == pytest.approx(17 / 11)
    assert res.extra_row(4) == pytest.approx((17 / 11 - 1) / 3)  # per extra row, of a 1-row step
    assert res.extra_row(1) == 0.0


def test_quick_run_times_each_path_and_restores_the_default() -> None:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a loaded machine makes 2-thread regions wait for a core
    paths = list(kernels.available_paths())[:2]  # the slow portable one only where it is all
    try:
        results = measure_row_cost(paths, (1, 2), rounds=2, clock=time.thread_time, budget_s=0.01)
    finally:
        torch.set_num_threads(threads)
    assert [r.path for r in results] == paths
    assert all(len(r.samples[k]) == 2 and min(r.samples[k]) > 0 for r in results for k in (1, 2))
    assert kernels.kernel_path() == kernels.available_paths()[0]  # back to the default


def test_report_records_its_conditions_and_restores_threads() -> None:
    threads = torch.get_num_threads()
    path = kernels.available_paths()[0]
    report = run_row_cost([path], rows=(1, 2), rounds=1, cpu_time=True, budget_s=0.01)
    assert torch.get_num_threads() == threads
    assert (report.threads, report.clock) == (1, "thread_time")
    data = report.to_json()
    cell = data["paths"][path]["rows"]["2"]  # type: ignore[index]
    assert cell["ratio_to_1_row"] == pytest.approx(report.results[0].ratio(2))
    assert path in report.table() and "load average" in report.table()


def test_cli_writes_the_report(tmp_path: pathlib.Path) -> None:
    from agentkit.cli import main

    out = tmp_path / "row_cost.json"
    path = kernels.available_paths()[0]
    code = main(["bench", "kernels", "--paths", path, "--rows", "1", "2", "--rounds", "1",
                 "--cpu-time", "--json", str(out)])  # fmt: skip
    assert code == 0
    data = json.loads(out.read_text())
    assert set(data["paths"]) == {path} and set(data["paths"][path]["rows"]) == {"1", "2"}
