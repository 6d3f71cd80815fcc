"""`agentkit bench soak --minutes 0.05`: the real `agentkit serve`, soaked for 3 s, holds."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from agentkit.bench._soak_mix import KINDS
from agentkit.cli import main

# The server runs in a child process: this one need not import torch.
pytestmark = pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="needs torch")

JUDGED = ("slots_free", "metrics_series", "no_5xx", "good_succeed", "bad_refused",
          "server_alive")  # fmt: skip


def test_a_short_soak_of_the_real_server_holds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "soak.json"
    argv = ["bench", "soak", "--minutes", "0.05", "--concurrency", "3", "--threads", "1"]
    code = main([*argv, "--json", str(out)])
    printed = capsys.readouterr().out
    report = json.loads(out.read_text())
    checks = {c["name"]: c for c in report["checks"]}
    failed = {name: c for name, c in checks.items() if c["passed"] is False}
    assert not failed, failed
    assert code == 0 and report["ok"] is True and "soak: all checks hold" in printed
    assert {name: checks[name]["passed"] for name in JUDGED} == dict.fromkeys(JUDGED, True)
    # 3 s is warm-up to the leak check (caches still filling): skipped, and it says so
    assert checks["rss_growth"]["passed"] is None and "run longer" in checks["rss_growth"]["detail"]
    kinds = {k["kind"]: k for k in report["kinds"]}
    assert set(kinds) == {k.name for k in KINDS}  # the warm-up sends each once
    assert report["requests"] == sum(k["sent"] for k in kinds.values())
    assert report["samples"]["rss_end_kb"] > 0 and report["samples"]["series_end"] > 0
    # max(4, concurrency) slots, not serve's 16: no never-used slot is warmed during the run
    assert report["samples"]["health_end"]["slots_total"] == 4
