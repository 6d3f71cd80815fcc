"""Execution: results for every failure the model can cause, timeouts, concurrency."""

from __future__ import annotations

import json
import threading
from typing import Annotated

import anyio
import pytest
from pydantic import AfterValidator, BaseModel

import tools
from tools import Tool, ToolError, ToolInvocation, ToolRegistry, ToolResult, tool

pytestmark = pytest.mark.anyio


class Weather(BaseModel):
    """Weather report."""

    city: str
    celsius: float


@tool
def add(a: int, b: int = 1) -> int:
    """Add two integers.

    Args:
        a: First addend.
        b: Second addend.
    """
    return a + b


@tool
async def report(city: str) -> Weather:
    """Report the weather in a city."""
    await anyio.sleep(0)
    return Weather(city=city, celsius=21.5)


@tool
def listing(n: int) -> list[dict[str, int]]:
    """Return n small records."""
    return [{"i": i} for i in range(n)]


@tool
def fails(reason: str) -> str:
    """Always raise."""
    raise RuntimeError(reason)


@pytest.fixture
def registry() -> ToolRegistry:
    return ToolRegistry([add, report, listing, fails], default_timeout_s=10.0)


async def test_sync_and_async_tools_run(registry: ToolRegistry) -> None:
    result = await registry.execute("c1", "add", '{"a": 2, "b": 40}')
    assert (result.ok, result.content, result.error) == (True, "42", None)
    assert (result.call_id, result.name) == ("c1", "add")
    assert result.elapsed_ms >= 0
    weather = await registry.execute("c2", "report", '{"city": "Oslo"}')
    assert weather.ok
    assert weather.content == '{"city":"Oslo","celsius":21.5}'  # compact JSON
    assert Weather.model_validate_json(weather.content) == Weather(city="Oslo", celsius=21.5)


async def test_lists_and_strings_render_as_model_text(registry: ToolRegistry) -> None:
    listed = await registry.execute("c", "listing", '{"n": 2}')
    assert listed.content == '[{"i":0},{"i":1}]'
    assert json.loads(listed.content) == [{"i": 0}, {"i": 1}]


async def test_empty_arguments_mean_an_empty_object() -> None:
    @tool
    def ping() -> str:
        """Pong."""
        return "pong"

    result = await ToolRegistry([ping]).execute("c", "ping", "")
    assert result.ok and result.content == "pong"


async def test_validation_error_round_trip(registry: ToolRegistry) -> None:
    bad = await registry.execute("c1", "add", '{"a": "two", "c": 1}')
    assert not bad.ok and bad.error == "validation"
    # The message names each bad field and what is expected, so the model can fix it.
    assert "a: Input should be a valid integer" in bad.content
    assert "c: Extra inputs are not permitted" in bad.content
    assert "{a, b?}" in bad.content
    fixed = await registry.execute("c2", "add", '{"a": 2}')
    assert fixed.ok and fixed.content == "3"


async def test_missing_required_argument_is_validation(registry: ToolRegistry) -> None:
    result = await registry.execute("c", "add", "{}")
    assert result.error == "validation" and "a: Field required" in result.content


@pytest.mark.parametrize("arguments", ['{"a": 1', "not json", '{"a": 1}}'])
async def test_invalid_json(registry: ToolRegistry, arguments: str) -> None:
    result = await registry.execute("c", "add", arguments)
    assert not result.ok and result.error == "invalid_json"
    assert "not valid JSON" in result.content


async def test_non_object_json_is_validation(registry: ToolRegistry) -> None:
    result = await registry.execute("c", "add", "[1, 2]")
    assert result.error == "validation"


async def test_unknown_tool_lists_the_real_ones(registry: ToolRegistry) -> None:
    result = await registry.execute("c", "subtract", "{}")
    assert (result.ok, result.error, result.name) == (False, "unknown_tool", "subtract")
    assert "add, fails, listing, report" in result.content


async def test_exceptions_become_results(registry: ToolRegistry) -> None:
    result = await registry.execute("c", "fails", '{"reason": "disk on fire"}')
    assert not result.ok and result.error == "exception"
    assert "RuntimeError: disk on fire" in result.content


def _refuse_lookup(text: str) -> str:
    raise OSError(f"cannot look up {text!r}")


@tool
def lookup(name: Annotated[str, AfterValidator(_refuse_lookup)]) -> str:
    """Look a name up (its validator raises OSError, as ``ZoneInfo("Europe")`` does)."""
    return name


async def test_a_validator_that_raises_a_non_value_error_is_a_result() -> None:
    """Pydantic wraps only ValueError/AssertionError; anything else left ``execute`` raising."""
    result = await ToolRegistry([lookup]).execute("c", "lookup", '{"name": "Europe"}')
    assert (result.ok, result.error) == (False, "exception")
    assert "OSError: cannot look up 'Europe'" in result.content


async def test_async_timeout_is_a_typed_result() -> None:
    @tool(timeout_s=0.05)
    async def hang() -> str:
        """Never finish."""
        await anyio.sleep_forever()
        return "unreachable"

    result = await ToolRegistry([hang]).execute("c", "hang", "{}")
    assert (result.ok, result.error) == (False, "timeout")
    assert "timed out after 0.05 s" in result.content


async def test_sync_timeout_abandons_the_thread() -> None:
    release = threading.Event()
    finished = threading.Event()

    @tool
    def block() -> str:
        """Block until released."""
        release.wait(timeout=30)
        finished.set()
        return "done"

    result = await ToolRegistry([block]).execute("c", "block", "{}", timeout_s=0.05)
    assert result.error == "timeout"
    assert not finished.is_set()  # reported while the abandoned thread still runs
    release.set()
    assert await anyio.to_thread.run_sync(finished.wait, 30)


async def test_call_timeout_overrides_tool_and_registry() -> None:
    @tool(timeout_s=30)
    async def nap() -> str:
        """Sleep a long time."""
        await anyio.sleep(30)
        return "rested"

    result = await ToolRegistry([nap], default_timeout_s=60).execute(
        "c", "nap", "{}", timeout_s=0.01
    )
    assert result.error == "timeout"


async def test_outer_cancellation_propagates() -> None:
    @tool
    async def forever() -> str:
        """Never finish."""
        await anyio.sleep_forever()
        return ""

    registry = ToolRegistry([forever], default_timeout_s=None)
    with anyio.move_on_after(0.05) as scope:
        await registry.execute("c", "forever", "{}")
    assert scope.cancelled_caught


async def test_execute_many_runs_async_tools_concurrently_in_call_order() -> None:
    first_in, second_in = anyio.Event(), anyio.Event()

    @tool
    async def left() -> str:
        """Wait for right."""
        first_in.set()
        await second_in.wait()
        return "left"

    @tool
    async def right() -> str:
        """Wait for left."""
        second_in.set()
        await first_in.wait()
        return "right"

    # Each tool only finishes once the other has started: run one after the
    # other, the first would time out instead.
    registry = ToolRegistry([left, right], default_timeout_s=10)
    calls = [ToolInvocation(call_id="2", name="right"), ToolInvocation(call_id="1", name="left")]
    results = await registry.execute_many(calls)
    assert [(r.call_id, r.content, r.ok) for r in results] == [
        ("2", "right", True),
        ("1", "left", True),
    ]


async def test_execute_many_runs_sync_tools_in_parallel_threads() -> None:
    barrier = threading.Barrier(2, timeout=10)

    @tool
    def meet(who: str) -> str:
        """Wait at the barrier."""
        barrier.wait()
        return who

    registry = ToolRegistry([meet])
    results = await registry.execute_many(
        [
            {
                "id": "a",
                "type": "function",
                "function": {"name": "meet", "arguments": '{"who": "a"}'},
            },
            {
                "id": "b",
                "type": "function",
                "function": {"name": "meet", "arguments": '{"who": "b"}'},
            },
        ]
    )
    assert [r.content for r in results] == ["a", "b"]


async def test_execute_many_mixes_failures_without_raising(registry: ToolRegistry) -> None:
    calls = [
        ToolInvocation(call_id="1", name="add", arguments='{"a": 1}'),
        ToolInvocation(call_id="2", name="nope"),
        ToolInvocation(call_id="3", name="fails", arguments='{"reason": "x"}'),
        ToolInvocation(call_id="4", name="add", arguments="{"),
    ]
    results = await registry.execute_many(calls)
    assert [r.error for r in results] == [None, "unknown_tool", "exception", "invalid_json"]


def test_tool_call_reads_openai_shapes_and_models() -> None:
    class FunctionCall(BaseModel):
        name: str
        arguments: str

    class WireCall(BaseModel):
        id: str
        function: FunctionCall

    wire = WireCall(id="x", function=FunctionCall(name="add", arguments='{"a":1}'))
    expected = ToolInvocation(call_id="x", name="add", arguments='{"a":1}')
    assert ToolInvocation.from_openai(wire) == expected
    assert ToolInvocation.from_openai(wire.model_dump()) == expected


def test_result_to_message() -> None:
    result = ToolResult(call_id="x", name="add", ok=True, content="3", elapsed_ms=1.0)
    assert result.to_message() == {"role": "tool", "tool_call_id": "x", "content": "3"}


def test_public_surface_is_pinned() -> None:
    # Exactly: adding a public name means adding it here.
    assert tools.__all__ == [
        "Calculation",
        "CalculationError",
        "KnowledgeBase",
        "Passage",
        "SearchHit",
        "Tool",
        "ToolArgumentError",
        "ToolDefinitionError",
        "ToolError",
        "ToolErrorKind",
        "ToolInvocation",
        "ToolRegistry",
        "ToolResult",
        "calculate",
        "calculator",
        "clock",
        "tool",
    ]
    assert tools.__all__ == sorted(tools.__all__)


def test_every_error_derives_from_the_root_and_is_exported() -> None:
    import tools._errors as errors

    for name in errors.__all__:
        cls = getattr(errors, name)
        assert issubclass(cls, ToolError)
        assert getattr(tools, name) is cls
    # Every exception the package exports (CalculationError included) is under the root.
    exported = [getattr(tools, n) for n in tools.__all__]
    exceptions = [c for c in exported if isinstance(c, type) and issubclass(c, BaseException)]
    assert len(exceptions) == 4 and all(issubclass(c, ToolError) for c in exceptions)
    with pytest.raises(tools.CalculationError):
        tools.calculate("1/0")


async def test_model_tool_receives_its_model_instance() -> None:
    def locate(weather: Weather) -> str:
        return f"{weather.city} at {weather.celsius:g}C"

    registry = ToolRegistry([Tool.from_model(Weather, locate, name="locate")])
    result = await registry.execute("c", "locate", '{"city": "Lima", "celsius": 19}')
    assert result.ok and result.content == "Lima at 19C"


async def test_unregister_removes_a_tool_and_tolerates_an_unknown_name() -> None:
    registry = ToolRegistry([add, report])
    assert registry.unregister("add") is add
    assert registry.names == ["report"] and registry.unregister("add") is None
    result = await registry.execute("1", "add", '{"a": 1}')
    assert (result.ok, result.error) == (False, "unknown_tool")
    registry.register(add)  # the name is free again
    assert registry.names == ["report", "add"]
