"""Fixtures of the example tests: the embedded engine, loaded once per test session."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(scope="session")
def engine() -> Any:
    """The embedded default model (SmolLM2-135M), shared by every example test."""
    from engine import Engine

    return Engine.load("default", threads=2, max_slots=4)
