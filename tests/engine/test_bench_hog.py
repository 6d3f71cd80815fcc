"""``agentkit bench batching --hog N``: busy neighbours for the length of the measurement."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from agentkit.cli import build_parser
from engine import Engine
from engine.bench.batching import busy_neighbours, run_batching_bench


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_busy_neighbours_spin_while_the_block_runs_and_die_after() -> None:
    with busy_neighbours(2) as procs:
        assert len(procs) == 2
        before = [_cpu_ticks(p.pid) for p in procs]
        time.sleep(0.3)
        assert all(_cpu_ticks(p.pid) > b for p, b in zip(procs, before, strict=True))
    assert all(p.poll() is not None for p in procs)


def test_a_negative_hog_is_refused_before_anything_runs() -> None:
    with pytest.raises(ValueError, match="hog"):
        run_batching_bench(hog=-1)


def test_the_cli_takes_a_hog_count(capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    assert parser.parse_args(["bench", "batching", "--quick", "--hog", "1"]).hog == 1
    assert parser.parse_args(["bench", "batching"]).hog == 0
    for bad in ("-1", "x"):
        with pytest.raises(SystemExit):
            parser.parse_args(["bench", "batching", "--hog", bad])
    assert "--hog" in capsys.readouterr().err


def test_the_run_records_the_hog_and_the_threads(default_engine: Engine) -> None:
    bench = run_batching_bench(
        concurrency=(1,),
        requests_per_client=1,
        modes=("dynamic",),
        quick=True,
        engine=default_engine,
        hog=1,
    )
    data = bench.to_json()
    assert data["settings"]["hog"] == 1
    assert data["settings"]["adaptive_threads"] is (default_engine.governor is not None)
    assert 1 <= data["concurrency"]["1"]["dynamic"]["threads"] <= default_engine.threads
