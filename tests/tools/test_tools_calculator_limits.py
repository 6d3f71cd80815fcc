"""The calculator under hostile input: every oversized request is a fast, typed refusal.

Each hostile expression runs in a child process with a hard timeout: a regression
that holds the GIL (``Fraction("1e999999999")`` builds ``10**999999999``) would
freeze an in-process test for good, and no tool timeout could stop it.
"""

from __future__ import annotations

import builtins
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tools import calculate

ROOT = Path(__file__).resolve().parents[2]
PER_CALL_S = 0.5  # each refusal costs microseconds; 0.5 s leaves room for a loaded machine
HOSTILE = [
    "1e999999999",  # built 10**999999999 holding the GIL: froze the process
    "1e-999999999",
    "0e999999999",
    "1E+99999999999999999999999999",
    "1.5e-999999999 * 0",
    "1_0e9_9999_9999",
    "1e99999999j",
    "1e3100",
    "1e-3100",
    "9 ** 9 ** 9 ** 9",
    "(2 ** 4999) ** 4999",
    "(2 ** 4999) * (2 ** 4999) * (2 ** 4999)",
    "(2 ** 4999) ** (5/2)",
    "(1/3) ** 99999",
    "(2 ** 4999 + 1) ** (1/64) ** -99",
    "sqrt(" * 60 + "2" + ")" * 60,
    "-" * 499 + "1",
    "(" * 240 + "1" + ")" * 240,
    "1%" * 200,
    "round(2 ** 4999, 99999)",
    "1" * 501,
    "12 ^ 34 ^ 56 ^ 78",
]
_CHILD = """
import anyio, json, sys, time
from tools import ToolRegistry, calculator
registry = ToolRegistry([calculator])
for expression in json.loads(sys.stdin.read()):
    start = time.perf_counter()
    args = json.dumps({"expression": expression})
    result = anyio.run(registry.execute, "c", "calculator", args)
    row = [expression[:40], result.error, result.content, time.perf_counter() - start]
    print("ROW", json.dumps(row), flush=True)
"""


def _run_child(expressions: list[str], timeout_s: float) -> list[list[Any]]:
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = child.communicate(json.dumps(expressions), timeout=timeout_s)
    except subprocess.TimeoutExpired:
        child.kill()
        out, err = child.communicate()
        done = out.count("ROW ")
        pytest.fail(f"calculator hung on {expressions[done]!r} (after {done} answers)")
    assert child.returncode == 0, err[-2000:]
    return [json.loads(line[4:]) for line in out.splitlines() if line.startswith("ROW ")]


def test_hostile_expressions_are_typed_refusals_within_a_bounded_time() -> None:
    rows = _run_child(HOSTILE, timeout_s=60)
    assert len(rows) == len(HOSTILE)
    for expression, error, content, seconds in rows:
        assert error == "validation", (expression, error, content)
        assert "rejected the arguments" in content, (expression, content)
        assert seconds < PER_CALL_S, (expression, seconds)


@pytest.mark.parametrize(
    ("expression", "rendered"),
    [
        # Exact texts past 1,000 digits become 20-digit approximations (before: a
        # ValueError from Python's 4,300-digit int-to-text limit, or 3,000 zeros).
        ("(1/2**4999) * (1/2**2000)", "≈ 1.2332761923688513555E-2107"),
        ("1e-3000", "≈ 1E-3000"),
        ("2**4999 * 2**4999", "≈ 4.9876577922018959622E+3009"),
        ("sqrt(1e-3009)", "≈ 3.1622776601683793320E-1505"),
        ("(1/7) ** 3000", "≈ 5.0801900228312230112E-2536"),
        ("1E3009", "≈ 1.0000000000000000000E+3009"),
        # Small and ordinary results stay exact.
        ("2**1000 - 2**1000 + 1.5e-7", "0.00000015"),
        ("1/3", "1/3 ≈ 0.33333333333333333333"),
        ("sqrt(1e-30)", "0.000000000000001"),
    ],
)
def test_huge_results_render_bounded(expression: str, rendered: str) -> None:
    text = calculate(expression).render()
    assert text == rendered
    assert len(text) <= 1100


def test_no_eval_or_exec_runs_on_input(monkeypatch: pytest.MonkeyPatch) -> None:
    """Calculations succeed and refuse the same with ``eval``/``exec`` booby-trapped."""

    def trap(*args: object, **kwargs: object) -> None:
        raise AssertionError("the calculator called eval/exec")

    monkeypatch.setattr(builtins, "eval", trap)
    monkeypatch.setattr(builtins, "exec", trap)
    assert calculate("(3 + 4) * 2.5 + 15% of 240 + sqrt(16) + max(1, 2)").render() == "59.5"
    with pytest.raises(Exception, match="unsupported"):
        calculate("__import__('os').system('true')")
