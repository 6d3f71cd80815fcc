"""`agentkit bench compare`: key numbers of two report runs, missing sections as '-'."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from agentkit.bench._compare import compare_runs, key_numbers


def _run(decode_ratio: float, dynamic: float, date: str) -> dict[str, Any]:
    return {
        "meta": {"date": date},
        "decode": {
            "ratio_decode_vs_llamacpp": decode_ratio,
            "results": [{"engine": "agentkit", "task": "math", "decode_tokens_per_s": 100.0}],
        },
        "batching": {"concurrency": {"16": {"dynamic": {"tokens_per_s": dynamic}}}},
    }


def test_key_numbers_read_what_the_run_has_and_none_for_the_rest() -> None:
    numbers = key_numbers(_run(1.2, 140.0, "d"))
    assert numbers["decode ratio ours/llama.cpp"] == 1.2
    assert numbers["decode tok/s agentkit math"] == 100.0
    assert numbers["16 clients dynamic tok/s"] == 140.0
    assert numbers["decode tok/s llama.cpp math"] is None  # no such row
    assert numbers["HTTP e2e ratio (plain) vs llama.cpp server"] is None  # no section


def test_compare_prints_both_runs_and_their_ratio(tmp_path: Path) -> None:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(_run(1.0, 100.0, "run-a")))
    b.write_text(json.dumps(_run(1.1, 150.0, "run-b")))
    table = compare_runs(a, b)
    assert "run 1 (run-a)" in table and "run 2 (run-b)" in table
    assert "| decode ratio ours/llama.cpp | 1 | 1.1 | 1.10 |" in table
    assert "| 16 clients dynamic tok/s | 100 | 150 | 1.50 |" in table
    assert "| model load ms | - | - | - |" in table
    cli = [sys.executable, "-m", "agentkit.cli", "bench", "compare", str(a), str(tmp_path / "x")]
    out = subprocess.run(cli, capture_output=True, text=True, check=False)
    assert out.returncode == 2 and "error" in out.stdout


def test_key_numbers_read_the_llama_server_ratios_of_the_http_section() -> None:
    ratio = {"median": 1.4, "low": 1.2, "high": 1.5, "n": 3}
    run = {"http": {"ratios": {"agentkit/llama-server": {"decode": ratio, "ttft": ratio}}}}
    numbers = key_numbers(run)
    assert numbers["HTTP decode ratio (plain) vs llama-server"] == 1.4
    assert numbers["HTTP TTFT ratio (plain) vs llama-server"] == 1.4
    assert numbers["HTTP decode ratio (speculative) vs llama-server"] is None
