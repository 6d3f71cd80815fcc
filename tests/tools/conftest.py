"""Shared fixtures for the ``tools`` tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    """Run async tests on asyncio only; the package uses nothing backend-specific."""
    return "asyncio"
