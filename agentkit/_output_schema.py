"""The JSON schema of an agent's ``output_type``, checked when the agent is built.

`output_schema` is what both tiers decode under (see `agentkit._typed`): the
type's own schema with every object closed. A type the engine cannot enforce
is a `ConfigError` at construction, never a surprise mid-turn.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel

from agentkit._errors import ConfigError

__all__ = ["output_schema"]

# Keywords that hold schemas (the walk of `_closed` and `_refs` follows only these).
_SCHEMA_MAPS = ("properties", "$defs", "definitions", "patternProperties")
_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SCHEMA_ONE = ("items", "additionalProperties", "not", "if", "then", "else", "contains")


def _subschemas(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for key in _SCHEMA_MAPS:
        mapping = node.get(key)
        if isinstance(mapping, dict):
            yield from (v for v in mapping.values() if isinstance(v, dict))
    for key in _SCHEMA_LISTS:
        items = node.get(key)
        if isinstance(items, list):
            yield from (v for v in items if isinstance(v, dict))
    for key in _SCHEMA_ONE:
        value = node.get(key)
        if isinstance(value, dict):
            yield value


def _closed(node: dict[str, Any]) -> dict[str, Any]:
    """A copy where every object with ``properties`` admits no others.

    pydantic leaves ``additionalProperties`` out; a small model then invents
    fields (measured: an ``age`` and a ``parents`` list the type does not
    have), spending tokens on what validation drops anyway.
    """
    out = dict(node)
    for key in _SCHEMA_MAPS:
        if isinstance(out.get(key), dict):
            out[key] = {k: _closed(v) if isinstance(v, dict) else v for k, v in out[key].items()}
    for key in _SCHEMA_LISTS:
        if isinstance(out.get(key), list):
            out[key] = [_closed(v) if isinstance(v, dict) else v for v in out[key]]
    for key in _SCHEMA_ONE:
        if isinstance(out.get(key), dict):
            out[key] = _closed(out[key])
    if isinstance(out.get("properties"), dict) and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


def _refs(node: dict[str, Any]) -> set[str]:
    """Names of the ``$defs`` a schema node refers to, directly or inside it."""
    found: set[str] = set()
    ref = node.get("$ref")
    if isinstance(ref, str):
        found.add(ref.rsplit("/", 1)[-1] if ref != "#" else "#")
    for sub in _subschemas(node):
        found |= _refs(sub)
    return found


def _recursive(schema: dict[str, Any]) -> str | None:
    """The first definition that reaches itself through ``$ref``, if any."""
    defs = {**schema.get("definitions", {}), **schema.get("$defs", {})}
    graph = {name: _refs(body) for name, body in defs.items() if isinstance(body, dict)}
    root = dict(schema)
    root.pop("$defs", None)
    root.pop("definitions", None)
    if "#" in _refs(root):
        return str(schema.get("title", "the root"))
    for start in map(str, graph):
        seen: set[str] = set()
        todo = list(graph[start])
        while todo:
            name = todo.pop()
            if name == start or name == "#":
                return start
            if name not in seen and name in graph:
                seen.add(name)
                todo.extend(graph[name])
    return None


def _engine_problem(schema: dict[str, Any]) -> str | None:
    """What llguidance (the engine's constrained decoding) cannot do with ``schema``."""
    try:
        import llguidance
    except ImportError:  # no engine extra: the fast tier is not the bundled engine
        return None
    try:
        grammar = llguidance.LLMatcher.grammar_from_json_schema(
            json.dumps(schema), defaults={"whitespace_flexible": False}
        )
        failed, warnings = llguidance.LLMatcher.validate_grammar_with_warnings(grammar)
    except Exception as exc:  # llguidance raises ValueError on schemas it cannot read
        return str(exc)[:300]
    if failed or warnings:
        return "; ".join(str(w) for w in warnings)[:300] or "the schema does not compile"
    return None


def output_schema(output_type: object) -> dict[str, Any]:
    """The JSON schema both tiers decode under: the type's own, every object closed.

    Refused at agent construction (`ConfigError` on ``output_type``): a type
    that is not a pydantic model, has no JSON schema, is recursive, or uses a
    keyword the engine cannot enforce (``not``, ``if``/``then``, a
    look-around ``pattern``...). llguidance itself compiles recursive
    schemas, but a small model under one nests until ``max_tokens`` (measured:
    120 tokens of ever deeper objects, cut mid-string), and no corrective
    retry can close a value that never ends inside the budget.
    """
    if not (isinstance(output_type, type) and issubclass(output_type, BaseModel)):
        raise ConfigError("output_type", "must be a pydantic BaseModel subclass")
    try:
        schema = output_type.model_json_schema()
    except Exception as exc:
        raise ConfigError("output_type", f"has no JSON schema: {exc}") from exc
    loop = _recursive(schema)
    if loop is not None:
        raise ConfigError("output_type", f"recursive schema ({loop} contains itself)")
    closed = _closed(schema)
    problem = _engine_problem(closed)
    if problem is not None:
        raise ConfigError("output_type", f"the engine cannot constrain it: {problem}")
    return closed
