"""The examples in the ``tools`` docstrings run and stay true."""

from __future__ import annotations

import doctest
import importlib
from types import ModuleType

import pytest

MODULES = ["tools", "tools._tool", "tools._registry", "tools._kb", "tools._calculator"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module: ModuleType = importlib.import_module(name)
    outcome = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert outcome.attempted > 0
    assert outcome.failed == 0
