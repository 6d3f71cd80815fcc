"""``agentkit eval routing|safety`` and ``agentkit router train|route`` end to end."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from agentkit.cli import main
from agentkit.safety._eval import average_precision, evaluate

PROBE = Path(__file__).parents[1] / "router" / "data" / "other_sources.jsonl"


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """`main()` points structlog at pytest's captured stderr; undo that afterwards."""
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


KEYS = (
    "escalation_recall",
    "false_escalation_routine",
    "xstest_false_flag",
    "moderation_auprc",
    "latency_ms_p50",
    "latency_ms_p99",
)


@pytest.mark.parametrize("target", ["routing", "safety"])
def test_eval_cli_writes_the_json_keys(
    tmp_path: Path, target: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report.json"
    assert main(["eval", target, "--data", str(PROBE), "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    for key in KEYS:
        assert key in report
        assert isinstance(report[key], float)
    assert set(report["confusion"]) == {"logic", "math", "routine", "safe_lookalike", "unsafe"}
    assert "escalation_recall" in capsys.readouterr().out


def test_metrics_are_null_without_rows() -> None:
    report = evaluate([{"text": "hello", "label": "routine"}])
    assert report["escalation_recall"] is None
    assert report["xstest_false_flag"] is None
    assert report["moderation_auprc"] is None
    assert report["false_escalation_routine"] is not None


def test_average_precision_oracle() -> None:
    assert average_precision([0.9, 0.8, 0.1], [True, True, False]) == 1.0
    assert average_precision([0.9, 0.8, 0.1], [False, True, True]) == pytest.approx(
        (1 / 2 + 2 / 3) / 2
    )
    assert average_precision([0.5], [True]) is None


def test_eval_cli_reports_unreadable_data(tmp_path: Path) -> None:
    assert main(["eval", "routing", "--data", str(tmp_path / "missing.jsonl")]) == 2


def test_router_train_and_route_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "model.npz"
    assert (
        main(
            [
                "router",
                "train",
                "--data",
                str(PROBE),
                "--out",
                str(out),
                "--no-synth",
                "--val-fraction",
                "0.3",
            ]
        )
        == 0
    )
    assert out.exists()
    capsys.readouterr()
    assert main(["router", "route", "What is 12 * 7 + 3?", "--model", str(out)]) == 0
    decision = json.loads(capsys.readouterr().out)
    assert decision["tier"] in ("fast", "deep") and "math" in decision["scores"]


def test_router_crossval_cli_reports_unreadable_data_and_points_to_loso(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["router", "crossval", "--data", str(tmp_path / "missing.jsonl")]) == 2
    err = capsys.readouterr().err
    assert "deprecated" in err and "agentkit eval routing --loso" in err
