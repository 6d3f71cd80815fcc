"""The :class:`Tool` type and the :func:`tool` decorator."""

from __future__ import annotations

import copy
import functools
import inspect
import re
from collections.abc import Callable
from typing import Any, TypeVar, cast, overload

import anyio.to_thread
from pydantic import BaseModel

from tools._errors import ToolDefinitionError
from tools._signature import model_from_function, parse_docstring, strip_titles

__all__ = ["Tool", "tool"]

# The OpenAI function-name rule; other providers accept a superset of it.
_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")

_F = TypeVar("_F", bound=Callable[..., Any])
_M = TypeVar("_M", bound=BaseModel)
Handler = Callable[[BaseModel], Any]
ApprovalRule = bool | Callable[[Any], bool]
"""When a call needs a person's approval: always, never, or a predicate on its arguments."""


def _check_timeout(timeout_s: float | None, name: str) -> float | None:
    if timeout_s is not None and not timeout_s > 0:
        raise ToolDefinitionError(f"timeout_s must be > 0, got {timeout_s!r}", tool_name=name)
    return timeout_s


def _is_async(fn: Callable[..., Any]) -> bool:
    call = getattr(fn, "__call__", None)  # noqa: B004 - async callable objects count too
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(call)


class Tool:
    """A typed callable the model can invoke by name with JSON arguments.

    The argument model is the single source of truth: it validates the model's
    JSON and its JSON schema is what the model sees. Build one with
    :meth:`from_function` (or the :func:`tool` decorator) from a typed function,
    or with :meth:`from_model` from a pydantic model plus a handler.

    Sync handlers run in a worker thread so they never block the event loop.
    When such a call times out it is *abandoned*: the result is discarded and a
    timeout is reported at once, but the thread runs to completion in the
    background (Python threads cannot be killed). Give slow sync tools their own
    cancellation if that matters.

    Example:
        >>> @tool
        ... def add(a: int, b: int = 1) -> int:
        ...     '''Add two integers.'''
        ...     return a + b
        >>> add.openai_schema()["function"]["parameters"]["required"]
        ['a']
    """

    def __init__(
        self,
        *,
        name: str,
        description: str,
        args_model: type[BaseModel],
        handler: Handler,
        timeout_s: float | None = None,
        needs_approval: ApprovalRule = False,
    ) -> None:
        """Create a tool; prefer :meth:`from_function` or :meth:`from_model`.

        Args:
            name: Name the model calls the tool by (``[a-zA-Z0-9_-]{1,64}``).
            description: What the tool does and when to use it, for the model.
            args_model: Pydantic model validating the arguments.
            handler: Called with a validated ``args_model`` instance; sync or async.
            timeout_s: Default time limit for one call, or ``None`` for the registry's.
            needs_approval: Calls wait for a person's decision before they run:
                ``True`` for every call, or a predicate on the validated
                arguments (an ``args_model`` instance), e.g. refunds over 100.
                The agent loop enforces it (``awaiting_approval``); the
                registry itself runs what it is asked to.

        Raises:
            ToolDefinitionError: Bad name, timeout, argument model or approval rule.
        """
        if not _NAME.match(name):
            raise ToolDefinitionError("name must match [a-zA-Z0-9_-]{1,64}", tool_name=name)
        if not (isinstance(args_model, type) and issubclass(args_model, BaseModel)):
            raise ToolDefinitionError("args_model must be a pydantic BaseModel", tool_name=name)
        self.name = name
        self.description = description
        self.args_model = args_model
        self.timeout_s = _check_timeout(timeout_s, name)
        if not (isinstance(needs_approval, bool) or callable(needs_approval)):
            raise ToolDefinitionError(
                "needs_approval must be a bool or a predicate", tool_name=name
            )
        self.needs_approval = needs_approval
        self.offer_when: Callable[[str], bool] | None = None
        """Offer the tool to the model only for user messages this predicate accepts
        (None: always). A small model calls any tool it is shown: the calculator,
        shown for "How do I kill a python process?", was called and its result
        given as the answer. Set it after construction, as ``warm`` is."""
        self._handler = handler
        self._is_async = _is_async(handler)
        try:
            schema = args_model.model_json_schema()
        except Exception as exc:
            raise ToolDefinitionError(f"no JSON schema: {exc}", tool_name=name) from exc
        self._parameters: dict[str, Any] = strip_titles(schema)

    @classmethod
    def from_function(
        cls,
        fn: Callable[..., Any],
        name: str | None = None,
        description: str | None = None,
        timeout_s: float | None = None,
        needs_approval: ApprovalRule = False,
    ) -> Tool:
        """Build a tool from a typed function (sync or async).

        The argument model comes from the signature: annotations become field
        types, defaults make fields optional, and Google-style ``Args:`` entries
        in the docstring become field descriptions.

        Args:
            fn: The function; every parameter must be annotated.
            name: Tool name; defaults to ``fn.__name__``.
            description: Tool description; defaults to the docstring's summary.
            timeout_s: Default time limit for one call.
            needs_approval: See :class:`Tool` (a predicate gets the argument model).

        Returns:
            The tool. The original function stays available as ``tool.fn``.

        Raises:
            ToolDefinitionError: The signature cannot be turned into a schema.
        """
        tool_name = name if name is not None else str(getattr(fn, "__name__", ""))
        summary, param_docs = parse_docstring(inspect.getdoc(fn))
        model = model_from_function(fn, tool_name, param_docs)
        fields = tuple(model.model_fields)

        async def call_async(args: BaseModel) -> Any:
            return await fn(**{f: getattr(args, f) for f in fields})

        def call_sync(args: BaseModel) -> Any:
            return fn(**{f: getattr(args, f) for f in fields})

        handler: Handler = call_async if _is_async(fn) else call_sync

        built = cls(
            name=tool_name,
            description=summary if description is None else description,
            args_model=model,
            handler=handler,
            timeout_s=timeout_s,
            needs_approval=needs_approval,
        )
        built.fn = fn
        return built

    @classmethod
    def from_model(
        cls,
        args_model: type[_M],
        handler: Callable[[_M], Any],
        *,
        name: str,
        description: str | None = None,
        timeout_s: float | None = None,
        needs_approval: bool | Callable[[_M], bool] = False,
    ) -> Tool:
        """Build a tool from a pydantic argument model and a handler taking it.

        Args:
            args_model: Validates the arguments; its schema is what the model sees.
            handler: Called with the validated model instance; sync or async.
            name: Tool name.
            description: Tool description; defaults to the model's docstring.
            timeout_s: Default time limit for one call.
            needs_approval: See :class:`Tool` (a predicate gets ``args_model``
                instances, e.g. ``lambda r: r.amount > 100``).

        Returns:
            The tool.
        """
        if description is None:
            description, _ = parse_docstring(args_model.__doc__)
        return cls(
            name=name,
            description=description,
            args_model=args_model,
            # Safe: the registry only ever passes instances of ``args_model``.
            handler=cast(Handler, handler),
            timeout_s=timeout_s,
            needs_approval=cast(ApprovalRule, needs_approval),
        )

    fn: Callable[..., Any] | None = None
    """The wrapped function for tools built by :meth:`from_function`, else ``None``."""

    warm: Callable[[], Any] | None = None
    """Loads what the tool loads lazily (an index, a connection), ahead of the first
    call; sync (run in a worker thread) or async. ``agentkit.Runner.start`` calls it.
    None: nothing to warm."""

    @property
    def parameters(self) -> dict[str, Any]:
        """The JSON schema of the arguments (a fresh copy; mutating it changes nothing)."""
        return copy.deepcopy(self._parameters)

    def openai_schema(self) -> dict[str, Any]:
        """Return the chat-completions function-tool definition.

        Returns:
            ``{"type": "function", "function": {"name", "description", "parameters"}}``.
        """
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }

    def requires_approval(self, args: BaseModel) -> bool:
        """Whether a call with these validated arguments waits for a person's decision.

        A predicate that raises counts as "yes": an unsure rule never lets a
        call through unapproved.
        """
        rule = self.needs_approval
        if isinstance(rule, bool):
            return rule
        try:
            return bool(rule(args))
        except Exception:
            return True

    def validate_json(self, arguments_json: str) -> BaseModel:
        """Validate the model's raw JSON arguments.

        Args:
            arguments_json: JSON object text; empty text counts as ``{}``.

        Returns:
            The validated argument model.

        Raises:
            pydantic.ValidationError: Invalid JSON (error type ``json_invalid``)
                or arguments that do not fit the model.
        """
        return self.args_model.model_validate_json(arguments_json.strip() or "{}")

    async def run(self, args: BaseModel) -> Any:
        """Run the handler on validated arguments; sync handlers go to a thread.

        Args:
            args: An instance of :attr:`args_model`.

        Returns:
            The handler's return value (awaited if it returned an awaitable).
        """
        if self._is_async:
            return await self._handler(args)
        call = functools.partial(self._handler, args)
        value = await anyio.to_thread.run_sync(call, abandon_on_cancel=True)
        if inspect.isawaitable(value):
            value = await value
        return value

    def __repr__(self) -> str:
        return f"Tool(name={self.name!r}, timeout_s={self.timeout_s!r})"


@overload
def tool(fn: _F, /) -> Tool: ...
@overload
def tool(
    *,
    name: str | None = None,
    description: str | None = None,
    timeout_s: float | None = None,
    needs_approval: ApprovalRule = False,
) -> Callable[[Callable[..., Any]], Tool]: ...
def tool(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    timeout_s: float | None = None,
    needs_approval: ApprovalRule = False,
) -> Tool | Callable[[Callable[..., Any]], Tool]:
    """Decorate a typed function to make it a :class:`Tool`; usable bare or with options.

    Args:
        fn: The function, when used bare as ``@tool``.
        name: Tool name; defaults to the function name.
        description: Tool description; defaults to the docstring summary.
        timeout_s: Default time limit for one call.
        needs_approval: See :class:`Tool`.

    Returns:
        The tool, or a decorator producing it when called with options only.
    """

    def build(f: Callable[..., Any]) -> Tool:
        return Tool.from_function(
            f,
            name=name,
            description=description,
            timeout_s=timeout_s,
            needs_approval=needs_approval,
        )

    return build(fn) if fn is not None else build
