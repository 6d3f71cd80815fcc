"""Tool definition: schemas derived from signatures and models, definition-time errors."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel, Field

from tools import Tool, ToolDefinitionError, ToolRegistry, tool


class Point(BaseModel):
    """A point on the plane."""

    x: float
    y: float


def plan_trip(
    city: str,
    days: int,
    budget: float = 1000.0,
    pace: Literal["slow", "fast"] = "slow",
    tags: list[str] | None = None,
    start: Point | None = None,
    adults: Annotated[int, Field(ge=1, le=9)] = 2,
    refundable: bool = False,
) -> dict[str, Any]:
    """Plan a trip to a city.

    Longer explanation that is still part of the summary.

    Args:
        city: Destination city name.
        days: Number of days,
            counted from arrival.
        budget (float): Total budget in euros.
        pace: How packed each day is.
        tags: Interests to favour.
        start: Where the traveller starts.
        adults: Number of adult travellers.
        refundable: Only refundable bookings.

    Returns:
        The plan.
    """
    return {"city": city, "days": days}


def _params(t: Tool) -> dict[str, Any]:
    return t.parameters


def test_openai_shape_and_summary() -> None:
    schema = Tool.from_function(plan_trip).openai_schema()
    assert schema["type"] == "function"
    assert set(schema["function"]) == {"name", "description", "parameters"}
    assert schema["function"]["name"] == "plan_trip"
    description = schema["function"]["description"]
    assert description.startswith("Plan a trip to a city.")
    assert "Longer explanation" in description
    assert "Args" not in description and "Returns" not in description


def test_types_defaults_required_and_descriptions() -> None:
    params = _params(Tool.from_function(plan_trip))
    props = params["properties"]
    assert params["type"] == "object"
    assert params["additionalProperties"] is False
    assert params["required"] == ["city", "days"]
    assert list(props) == [
        "city", "days", "budget", "pace", "tags", "start", "adults", "refundable",
    ]  # fmt: skip
    assert props["city"]["type"] == "string"
    assert props["days"]["type"] == "integer"
    assert props["budget"] == {
        "default": 1000.0,
        "description": "Total budget in euros.",
        "type": "number",
    }
    assert props["pace"]["enum"] == ["slow", "fast"]
    assert props["refundable"]["type"] == "boolean"
    assert props["adults"]["minimum"] == 1 and props["adults"]["maximum"] == 9
    assert {"items": {"type": "string"}, "type": "array"} in props["tags"]["anyOf"]
    assert props["days"]["description"] == "Number of days, counted from arrival."
    assert props["start"]["description"] == "Where the traveller starts."
    assert "Point" in params["$defs"]


def test_generated_titles_are_stripped_but_a_field_named_title_survives() -> None:
    def note(title: str, body: str = "") -> str:
        """Write a note."""
        return title + body

    params = _params(Tool.from_function(note))
    assert "title" not in params
    assert set(params["properties"]) == {"title", "body"}
    assert all("title" not in prop for prop in params["properties"].values())


def test_decorator_bare_and_with_options() -> None:
    @tool
    def ping() -> str:
        """Reply with pong."""
        return "pong"

    @tool(name="pong-2", description="Custom.", timeout_s=3.0)
    async def pong() -> str:
        return "ping"

    assert isinstance(ping, Tool) and ping.name == "ping" and ping.fn is not None
    assert ping.description == "Reply with pong."
    assert _params(ping)["properties"] == {}
    assert (pong.name, pong.description, pong.timeout_s) == ("pong-2", "Custom.", 3.0)


def test_from_model_uses_model_schema_and_docstring() -> None:
    def handle(point: Point) -> str:
        return f"{point.x},{point.y}"

    t = Tool.from_model(Point, handle, name="plot")
    assert t.description == "A point on the plane."
    assert _params(t)["required"] == ["x", "y"]
    assert t.args_model is Point


@pytest.mark.parametrize(
    ("source", "needle"),
    [
        ("def f(x): return x", "no type annotation"),
        ("def f(*xs: int) -> int: return 0", r"\*args"),
        ("def f(**kw: int) -> int: return 0", r"\*args"),
        ("def f(x: int, /) -> int: return x", "positional-only"),
        ("def f(x: 'Missing') -> int: return 0", "cannot resolve"),
        ("class Opaque: pass\ndef f(x: Opaque) -> int: return 0", "unsupported parameter type"),
    ],
)
def test_bad_signatures_raise_at_definition_time(source: str, needle: str) -> None:
    namespace: dict[str, Any] = {}
    exec(source, namespace)  # test-only: builds functions with odd signatures
    with pytest.raises(ToolDefinitionError, match=needle) as info:
        Tool.from_function(namespace["f"])
    assert info.value.tool_name == "f"


@pytest.mark.parametrize("name", ["", "has space", "x" * 65, "dots.not.allowed"])
def test_bad_names_are_rejected(name: str) -> None:
    with pytest.raises(ToolDefinitionError, match="name must match"):
        Tool.from_function(plan_trip, name=name)


def test_bad_timeouts_are_rejected() -> None:
    with pytest.raises(ToolDefinitionError, match="timeout_s"):
        Tool.from_function(plan_trip, timeout_s=0)
    with pytest.raises(ToolDefinitionError, match="default_timeout_s"):
        ToolRegistry(default_timeout_s=-1)


def test_duplicate_names_are_rejected() -> None:
    registry = ToolRegistry([Tool.from_function(plan_trip)])
    with pytest.raises(ToolDefinitionError, match="already registered") as info:
        registry.register(plan_trip)
    assert info.value.tool_name == "plan_trip"
    assert registry.names == ["plan_trip"]


def test_registry_lookup_and_schemas_in_order() -> None:
    def b() -> str:
        """B."""
        return "b"

    def a() -> str:
        """A."""
        return "a"

    registry = ToolRegistry()
    registry.register(b)
    registry.register(a)
    assert "a" in registry and "zzz" not in registry
    assert registry.get("zzz") is None and registry["a"].name == "a"
    assert len(registry) == 2
    assert [s["function"]["name"] for s in registry.schemas()] == ["b", "a"]


def test_schema_copies_cannot_corrupt_the_tool() -> None:
    t = Tool.from_function(plan_trip)
    t.openai_schema()["function"]["parameters"]["properties"].clear()
    t.parameters["required"].append("budget")
    assert t.parameters["required"] == ["city", "days"]
    assert "city" in t.openai_schema()["function"]["parameters"]["properties"]
