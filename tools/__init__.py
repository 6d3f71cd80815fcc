"""Typed tools for agents: schemas from type hints, safe concurrent execution.

A :class:`Tool` is a typed callable whose pydantic argument model both
validates the model's JSON and yields the JSON schema the model sees. A
:class:`ToolRegistry` runs calls with validation and timeouts and turns every
failure the model caused into a :class:`ToolResult` it can learn from.

Example:
    >>> import anyio
    >>> @tool
    ... def greet(name: str) -> str:
    ...     '''Greet someone.
    ...
    ...     Args:
    ...         name: Who to greet.
    ...     '''
    ...     return f"Hello, {name}!"
    >>> registry = ToolRegistry([greet, calculator])
    >>> anyio.run(registry.execute, "1", "greet", '{"name": "Ada"}').content
    'Hello, Ada!'

This package never imports ``agentkit``, ``router``, ``engine`` or torch.
"""

from tools._builtins import calculator, clock
from tools._calc_eval import CalculationError
from tools._calculator import Calculation, calculate
from tools._errors import ToolArgumentError, ToolDefinitionError, ToolError
from tools._kb import KnowledgeBase, Passage, SearchHit
from tools._registry import ToolRegistry
from tools._result import ToolErrorKind, ToolInvocation, ToolResult
from tools._tool import Tool, tool

__all__ = [
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
