"""Fuzzing the built-in tools through the registry: arbitrary arguments, typed outcomes only.

Whatever text the model sends as arguments, :meth:`ToolRegistry.execute` returns a
:class:`ToolResult` whose failure is one the model can act on (``invalid_json`` or
``validation``), well within the tool's timeout: never an exception out of
``execute``, never an ``exception`` result (an untyped crash inside a tool), never
a ``timeout`` (a tool that a GIL-holding computation could have frozen).
"""

from __future__ import annotations

import faulthandler
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tools import KnowledgeBase, ToolRegistry, ToolResult, calculator, clock

KB_DIR = Path(__file__).resolve().parents[2] / "examples" / "customer_service" / "kb"
FAST = settings(
    derandomize=True,
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
LONG = settings(FAST, max_examples=3000)
TYPED_FAILURES = (None, "invalid_json", "validation")

_LEAF = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**200), max_value=2**200)
    | st.floats()
    | st.text(max_size=40)
)
JSONISH = st.recursive(
    _LEAF,
    lambda kids: (
        st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4)
    ),
    max_leaves=10,
)
# Pieces of arithmetic, including the hostile ones: huge exponents, deep nesting, % and "of".
_CALC_WORDS = (
    "1 0 9 12.5 1e9 1e999999999 1e-999 0x1f 1_000 1j 2 4999 + - * / // % ** ^ × ÷ − ( ) , . e"
    " sqrt( round( abs( min( max( of x 'a' [ ] __import__( lambda : \x00 \u200b １"
)
_CALC_PIECES = st.sampled_from([*_CALC_WORDS.split(), " "])
EXPRESSIONS = st.lists(_CALC_PIECES, max_size=40).map("".join) | st.text(max_size=60)


def _arguments(
    fields: list[str], value: st.SearchStrategy[Any] = JSONISH
) -> st.SearchStrategy[str]:
    """Argument texts: objects with the tool's fields (wrong types too), any JSON, non-JSON."""
    keys = st.sampled_from(fields) | st.text(max_size=8)
    objects = st.dictionaries(keys, value | JSONISH, max_size=4).map(json.dumps)
    return objects | JSONISH.map(json.dumps) | st.text(max_size=80)


@pytest.fixture(autouse=True)
def _hang_watchdog() -> Iterator[None]:
    """Kill the run with every thread's stack if a tool freezes (a GIL-holding loop stops
    pytest's own timeouts too; faulthandler's C thread still fires)."""
    faulthandler.dump_traceback_later(120, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


@pytest.fixture(scope="module")
def registry() -> ToolRegistry:
    kb = KnowledgeBase.from_folder(KB_DIR)
    return ToolRegistry([calculator, clock, kb.as_tool()])


def check_call(registry: ToolRegistry, name: str, arguments: str) -> ToolResult:
    """Run one call; assert that its outcome is typed and came well within the timeout."""
    result = anyio.run(registry.execute, "fuzz", name, arguments)
    assert isinstance(result, ToolResult)
    assert result.error in TYPED_FAILURES, (arguments, result.content)
    assert result.ok == (result.error is None) and result.content
    tool = registry[name]
    assert tool.timeout_s is not None and result.elapsed_ms < tool.timeout_s * 500, arguments
    return result


@FAST
@given(expression=EXPRESSIONS)
def test_calculator_expressions_are_answers_or_typed_refusals(
    registry: ToolRegistry, expression: str
) -> None:
    result = check_call(registry, "calculator", json.dumps({"expression": expression}))
    assert len(result.content) < 2000


def _survives_arbitrary_arguments(registry: ToolRegistry, data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(registry.names))
    fields = list(registry[name].args_model.model_fields)
    strings = EXPRESSIONS | st.sampled_from(["Europe", "UTC/..", "a" * 300, "x" * 5000])
    check_call(registry, name, data.draw(_arguments(fields, strings)))


@FAST
@given(data=st.data())
def test_every_tool_survives_arbitrary_arguments(
    registry: ToolRegistry, data: st.DataObject
) -> None:
    _survives_arbitrary_arguments(registry, data)


@FAST
@given(name=st.text(max_size=20), arguments=st.text(max_size=40))
def test_unknown_tools_are_typed_results(registry: ToolRegistry, name: str, arguments: str) -> None:
    result = anyio.run(registry.execute, "fuzz", name, arguments)
    if name not in registry:
        assert result.error == "unknown_tool" and not result.ok


@pytest.mark.slow
@LONG
@given(expression=EXPRESSIONS)
def test_calculator_expressions_long(registry: ToolRegistry, expression: str) -> None:
    check_call(registry, "calculator", json.dumps({"expression": expression}))


@pytest.mark.slow
@LONG
@given(data=st.data())
def test_every_tool_survives_arbitrary_arguments_long(
    registry: ToolRegistry, data: st.DataObject
) -> None:
    _survives_arbitrary_arguments(registry, data)
