"""Errors raised by the ``tools`` package.

Only the developer's mistakes raise. Everything that goes wrong while the
*model* calls a tool (bad JSON, bad arguments, unknown tool, timeout, a
tool that raises) is an expected outcome and comes back as a
:class:`~tools.ToolResult` with ``ok=False``, so the model can correct itself.

Exception tree::

    ToolError                  catch to handle anything this package raises
    ├── ToolDefinitionError    a tool or registry is defined wrongly; fix the code
    └── ToolArgumentError      raised *by a tool* to reject its arguments; the
        │                      registry turns it into a ``validation`` result
        └── CalculationError   `calculate` cannot evaluate the expression (why, in words)
"""

from __future__ import annotations

__all__ = ["ToolArgumentError", "ToolDefinitionError", "ToolError"]


class ToolError(Exception):
    """Root of every exception raised by the ``tools`` package."""


class ToolDefinitionError(ToolError):
    """A tool is defined wrongly: caught at definition time, never at call time.

    Raised for duplicate names in a registry, parameters without annotations,
    unsupported parameter types and similar programming mistakes.

    Attributes:
        tool_name: Name of the offending tool, when known.
        reason: Human-readable description of the mistake.
    """

    def __init__(self, reason: str, *, tool_name: str | None = None) -> None:
        self.tool_name = tool_name
        self.reason = reason
        prefix = f"tool {tool_name!r}: " if tool_name else ""
        super().__init__(prefix + reason)


class ToolArgumentError(ToolError):
    """Raised inside a tool when arguments pass the schema but still make no sense.

    The registry never lets it escape: it becomes a :class:`~tools.ToolResult`
    with ``error="validation"`` and ``message`` as the text the model reads, so
    the model can fix the call (for example a division by zero in the calculator).

    Attributes:
        message: What is wrong, phrased for the model.
    """

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)
