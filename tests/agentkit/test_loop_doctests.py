"""The docstring examples of the agent-loop modules run."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "agentkit._agent",
    "agentkit._approval_types",
    "agentkit._fallback",
    "agentkit._runner",
    "agentkit._sessions",
    "agentkit.approvals",
]


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name: str) -> None:
    outcome = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert outcome.attempted > 0 and outcome.failed == 0
