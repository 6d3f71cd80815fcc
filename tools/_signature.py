"""Turn a typed Python function into a pydantic argument model.

Kept apart from :mod:`tools._tool` because this is the only place that reads
signatures and docstrings; everything downstream sees just a model class.
"""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Callable
from typing import Any

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from tools._errors import ToolDefinitionError

__all__ = ["model_from_function", "parse_docstring", "strip_titles"]

_SECTION = re.compile(
    r"^(Args|Arguments|Parameters|Returns|Return|Yields|Raises|Examples?|Notes?|Attributes"
    r"|See Also|Warnings?|Todo):\s*$"
)
_ARG_LINE = re.compile(r"^(\*{0,2}\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")
# Keywords whose values are data, not sub-schemas: never strip "title" inside them.
_DATA_KEYS = frozenset({"default", "examples", "const", "enum"})
_SCHEMA_MAPS = frozenset({"properties", "$defs", "definitions", "patternProperties"})


def parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """Split a Google-style docstring into its summary and ``Args:`` descriptions.

    Args:
        doc: The raw docstring (may be ``None``).

    Returns:
        ``(summary, {param: description})``; the summary is every line before the
        first section header, joined into one paragraph-preserving string.
    """
    if not doc:
        return "", {}
    lines = inspect.cleandoc(doc).splitlines()
    summary: list[str] = []
    params: dict[str, str] = {}
    section: str | None = None
    current: str | None = None
    arg_indent: int | None = None
    for line in lines:
        header = _SECTION.match(line)
        if header:
            section, current, arg_indent = header.group(1), None, None
            continue
        if section is None:
            summary.append(line)
            continue
        if section not in ("Args", "Arguments", "Parameters") or not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        entry = _ARG_LINE.match(line.strip())
        if entry and (arg_indent is None or indent <= arg_indent):
            arg_indent = indent
            current = entry.group(1).lstrip("*")
            params[current] = entry.group(2).strip()
        elif current is not None:
            params[current] = (params[current] + " " + line.strip()).strip()
    return "\n".join(summary).strip(), params


def strip_titles(node: Any) -> Any:
    """Remove pydantic's auto-generated ``title`` keywords from a JSON schema.

    Titles only repeat the field names and cost the model tokens on every turn.

    Args:
        node: A JSON-schema fragment.

    Returns:
        A copy without ``title`` keywords (property *names* called "title" survive).
    """
    if isinstance(node, list):
        return [strip_titles(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "title" and isinstance(value, str):
            continue
        if key in _DATA_KEYS:
            out[key] = value
        elif key in _SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {name: strip_titles(sub) for name, sub in value.items()}
        else:
            out[key] = strip_titles(value)
    return out


def _model_name(tool_name: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[^0-9a-zA-Z]+", tool_name)) + "Args"


def model_from_function(
    fn: Callable[..., Any], tool_name: str, param_docs: dict[str, str]
) -> type[BaseModel]:
    """Build the argument model for ``fn`` from its signature.

    Args:
        fn: A function whose parameters are all annotated and keyword-passable.
        tool_name: Tool name, used for error messages and the model's class name.
        param_docs: Field descriptions keyed by parameter name.

    Returns:
        A pydantic model that forbids extra keys.

    Raises:
        ToolDefinitionError: A parameter is variadic, positional-only, unannotated,
            or of a type pydantic cannot validate or describe in JSON schema.
    """
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except Exception as exc:  # unresolved forward references etc.
        raise ToolDefinitionError(
            f"cannot resolve annotations: {exc}", tool_name=tool_name
        ) from exc
    fields: dict[str, Any] = {}
    for param in inspect.signature(fn).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise ToolDefinitionError(
                f"parameter {param.name!r}: *args/**kwargs are not supported", tool_name=tool_name
            )
        if param.kind is param.POSITIONAL_ONLY:
            raise ToolDefinitionError(
                f"parameter {param.name!r}: positional-only parameters are not supported",
                tool_name=tool_name,
            )
        if param.name not in hints:
            raise ToolDefinitionError(
                f"parameter {param.name!r} has no type annotation", tool_name=tool_name
            )
        default = ... if param.default is param.empty else param.default
        fields[param.name] = (
            hints[param.name],
            Field(default, description=param_docs.get(param.name)),
        )
    try:
        model = pydantic.create_model(
            _model_name(tool_name),
            __config__=ConfigDict(extra="forbid"),
            **fields,
        )
        model.model_json_schema()
    except (pydantic.PydanticUserError, pydantic.PydanticSchemaGenerationError) as exc:
        raise ToolDefinitionError(
            f"unsupported parameter type: {exc}", tool_name=tool_name
        ) from exc
    return typing.cast(type[BaseModel], model)
