"""Project-wide test setup: loopback-only network, logging restored, `gpu` skipped without CUDA."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator

import pytest
import structlog

from agentkit.testing import block_network


@pytest.fixture(autouse=True)
def _loopback_only() -> Iterator[None]:
    """Fail any test that reaches a non-loopback address (no packet leaves)."""
    with block_network():
        yield


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """Undo any structlog configuration a test (e.g. a CLI run) made."""
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


def _cuda_available() -> bool:
    if importlib.util.find_spec("torch") is None:
        return False
    import torch

    return bool(torch.cuda.is_available())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip `gpu`-marked tests on machines without CUDA."""
    if any("gpu" in item.keywords for item in items) and not _cuda_available():
        skip = pytest.mark.skip(reason="needs CUDA")
        for item in items:
            if "gpu" in item.keywords:
                item.add_marker(skip)
