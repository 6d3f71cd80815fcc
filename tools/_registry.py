"""The :class:`ToolRegistry`: name lookup, schemas, and safe execution."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import anyio
import pydantic
import structlog

from tools._errors import ToolArgumentError, ToolDefinitionError
from tools._result import ToolErrorKind, ToolInvocation, ToolResult, render_value
from tools._tool import Tool

__all__ = ["ToolRegistry"]

_log = structlog.get_logger("tools")
_MAX_INPUT_REPR = 80


def _describe_validation(tool: Tool, exc: pydantic.ValidationError) -> str:
    lines = [f"Invalid arguments for tool {tool.name!r}:"]
    for err in exc.errors(include_url=False):
        where = ".".join(str(part) for part in err["loc"]) or "(arguments)"
        got = repr(err.get("input"))
        if len(got) > _MAX_INPUT_REPR:
            got = got[: _MAX_INPUT_REPR - 3] + "..."
        lines.append(f"- {where}: {err['msg']} (got {got})")
    expected = ", ".join(
        f"{field}{'' if info.is_required() else '?'}"
        for field, info in tool.args_model.model_fields.items()
    )
    lines.append(f"Expected arguments: {{{expected}}} (? = optional). Fix them and call again.")
    return "\n".join(lines)


class ToolRegistry:
    """Tools by name, with validated, time-limited, never-raising execution.

    Everything that can go wrong during a call — invalid JSON, arguments that
    fail validation, an unknown tool name, a timeout, an exception inside the
    tool — comes back as a :class:`ToolResult` with ``ok=False`` and a message
    the model can act on. Only cancellation from outside propagates.

    Example:
        >>> import anyio
        >>> from tools import ToolRegistry, calculator
        >>> registry = ToolRegistry([calculator])
        >>> anyio.run(registry.execute, "c1", "calculator", '{"expression": "0.1+0.2"}').content
        '0.3'
    """

    def __init__(self, tools: Iterable[Tool] = (), *, default_timeout_s: float | None = 30.0):
        """Create a registry.

        Args:
            tools: Tools to register now.
            default_timeout_s: Time limit for calls when neither the call nor the
                tool sets one; ``None`` means no limit.

        Raises:
            ToolDefinitionError: Duplicate names or a non-positive timeout.
        """
        if default_timeout_s is not None and not default_timeout_s > 0:
            raise ToolDefinitionError(f"default_timeout_s must be > 0, got {default_timeout_s!r}")
        self.default_timeout_s = default_timeout_s
        self._tools: dict[str, Tool] = {}
        for item in tools:
            self.register(item)

    def register(self, item: Tool | Callable[..., Any]) -> Tool:
        """Add a tool; a plain typed function is wrapped with :meth:`Tool.from_function`.

        Args:
            item: A :class:`Tool` or a typed function.

        Returns:
            The registered tool (so this also works as a decorator).

        Raises:
            ToolDefinitionError: A tool with the same name is already registered.
        """
        built = item if isinstance(item, Tool) else Tool.from_function(item)
        if built.name in self._tools:
            raise ToolDefinitionError(
                "a tool with this name is already registered", tool_name=built.name
            )
        self._tools[built.name] = built
        return built

    def unregister(self, name: str) -> Tool | None:
        """Remove the tool called ``name`` (tools that come and go, such as an MCP server's).

        Returns:
            The removed tool, or ``None`` when there was none.
        """
        return self._tools.pop(name, None)

    def get(self, name: str) -> Tool | None:
        """Return the tool called ``name``, or ``None``."""
        return self._tools.get(name)

    def __getitem__(self, name: str) -> Tool:
        return self._tools[name]

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[Tool]:
        return iter(self._tools.values())

    def __len__(self) -> int:
        return len(self._tools)

    @property
    def names(self) -> list[str]:
        """Registered tool names, in registration order."""
        return list(self._tools)

    def schemas(self, message: str | None = None) -> list[dict[str, Any]]:
        """Return the tools' chat-completions definitions, in registration order.

        Args:
            message: The user's message: a tool whose ``offer_when`` rejects it is
                left out (None: every tool). A predicate that raises offers the tool.
        """
        return [
            item.openai_schema()
            for item in self._tools.values()
            if message is None or _offered(item, message)
        ]

    async def execute(
        self, call_id: str, name: str, arguments_json: str, timeout_s: float | None = None
    ) -> ToolResult:
        """Validate and run one call; never raises for anything the model did.

        Args:
            call_id: The model's id for the call, echoed on the result.
            name: Tool name the model asked for.
            arguments_json: Raw JSON arguments from the model.
            timeout_s: Limit for this call; overrides the tool's and the registry's.

        Returns:
            The result; check ``ok`` and ``error``.
        """
        start = time.perf_counter()

        def finish(content: str, error: ToolErrorKind | None) -> ToolResult:
            elapsed_ms = (time.perf_counter() - start) * 1000.0
            if error is not None:
                _log.debug("tool_call_failed", tool=name, call_id=call_id, error=error)
            return ToolResult(
                call_id=call_id,
                name=name,
                ok=error is None,
                content=content,
                error=error,
                elapsed_ms=elapsed_ms,
            )

        item = self._tools.get(name)
        if item is None:
            known = ", ".join(sorted(self._tools)) or "(none)"
            return finish(f"Unknown tool {name!r}. Available tools: {known}.", "unknown_tool")
        try:
            args = item.validate_json(arguments_json)
        except pydantic.ValidationError as exc:
            if any(err["type"] == "json_invalid" for err in exc.errors()):
                detail = exc.errors()[0]["msg"]
                return finish(
                    f"Arguments for tool {name!r} are not valid JSON ({detail}). "
                    "Send a single JSON object.",
                    "invalid_json",
                )
            return finish(_describe_validation(item, exc), "validation")
        except Exception as exc:  # a validator raised something pydantic does not wrap
            _log.warning("tool_validator_raised", tool=name, error=f"{type(exc).__name__}: {exc}")
            return finish(
                f"Tool {name!r} could not check the arguments: {type(exc).__name__}: {exc}",
                "exception",
            )
        limit = next((t for t in (timeout_s, item.timeout_s, self.default_timeout_s) if t), None)
        return await self._run(item, args, limit, finish)

    async def _run(
        self,
        item: Tool,
        args: pydantic.BaseModel,
        limit: float | None,
        finish: Callable[[str, ToolErrorKind | None], ToolResult],
    ) -> ToolResult:
        content = ""
        try:
            with anyio.move_on_after(limit) as scope:
                content = render_value(await item.run(args))
        except ToolArgumentError as exc:
            return finish(f"Tool {item.name!r} rejected the arguments: {exc.message}", "validation")
        except Exception as exc:
            # No traceback: rendering one costs ~1 s with rich installed, mid-turn.
            _log.warning("tool_raised", tool=item.name, error=f"{type(exc).__name__}: {exc}")
            return finish(f"Tool {item.name!r} failed: {type(exc).__name__}: {exc}", "exception")
        if scope.cancelled_caught:
            return finish(
                f"Tool {item.name!r} timed out after {limit:g} s and was abandoned. "
                "Try a simpler request or another approach.",
                "timeout",
            )
        return finish(content, None)

    async def execute_many(
        self,
        calls: Sequence[ToolInvocation | Mapping[str, Any] | pydantic.BaseModel],
        timeout_s: float | None = None,
    ) -> list[ToolResult]:
        """Run several calls concurrently; results come back in call order.

        Args:
            calls: :class:`ToolInvocation` objects, or chat-completions tool calls as dicts
                or pydantic models of that shape (such as ``agentkit.ToolCall``).
            timeout_s: Per-call limit applied to every call.

        Returns:
            One result per call, in the order given.
        """
        parsed = [
            c if isinstance(c, ToolInvocation) else ToolInvocation.from_openai(c) for c in calls
        ]
        results: list[ToolResult | None] = [None] * len(parsed)

        async def run_one(index: int, call: ToolInvocation) -> None:
            results[index] = await self.execute(call.call_id, call.name, call.arguments, timeout_s)

        async with anyio.create_task_group() as group:
            for index, call in enumerate(parsed):
                group.start_soon(run_one, index, call)
        return [r for r in results if r is not None]


def _offered(item: Tool, message: str) -> bool:
    """Whether ``item`` is offered for ``message`` (its ``offer_when``; errors offer it)."""
    predicate = getattr(item, "offer_when", None)
    if predicate is None:
        return True
    try:
        return bool(predicate(message))
    except Exception:  # a broken predicate must not hide a tool the model may need
        return True
