"""Typed look-ups in a checkpoint's metadata (GGUF fields, HF ``config.json``).

Each value comes from a file, so each is read with the type it must have: a
missing key, a string where a count belongs or a NaN where a finite number
belongs raises `ModelFormatError` naming the key, never ``KeyError``,
``TypeError`` or ``ValueError``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from engine._errors import ModelFormatError

__all__ = ["MISSING", "field_float", "field_int", "field_str"]

MISSING = object()


def _get(f: Mapping[str, Any], key: str, default: object) -> object:
    value = f.get(key, default)
    if value is MISSING:
        raise ModelFormatError(f"metadata key {key!r} is missing", field=key)
    return value


def _bad(key: str, what: str, value: object) -> ModelFormatError:
    return ModelFormatError(f"metadata {key!r} must be {what}, got {value!r:.80}", field=key)


def field_int(f: Mapping[str, Any], key: str, default: object = MISSING) -> int:
    """The integer at ``key`` (or ``default``); bools, floats and strings are refused."""
    value = _get(f, key, default)
    if not isinstance(value, int) or isinstance(value, bool):
        raise _bad(key, "an integer", value)
    return value


def field_float(f: Mapping[str, Any], key: str, default: object = MISSING) -> float:
    """The finite number at ``key`` (or ``default``)."""
    value = _get(f, key, default)
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        raise _bad(key, "a finite number", value)
    return float(value)


def field_str(f: Mapping[str, Any], key: str, default: object = MISSING) -> str:
    """The string at ``key`` (or ``default``)."""
    value = _get(f, key, default)
    if not isinstance(value, str):
        raise _bad(key, "a string", value)
    return value
