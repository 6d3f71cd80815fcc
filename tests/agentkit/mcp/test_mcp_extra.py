"""The optional ``mcp`` extra: agentkit works without it; agentkit.mcp says what to install.

Collected whether or not the extra is installed (the other modules here are
not collected without it; the surface test then skips, naming the extra).
"""

from __future__ import annotations

import importlib
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

MISSING = (
    "the mcp extra is not installed (pip install 'agentkit[mcp]'): its tests are not collected"
)


def test_the_surface_is_pinned() -> None:
    if importlib.util.find_spec("mcp") is None:
        pytest.skip(MISSING)
    mcp = importlib.import_module("agentkit.mcp")
    assert mcp.__all__ == ["MCPServer", "MCPServerStdio", "MCPServerStreamableHttp", "MCPTool"]
    assert all(getattr(mcp, name).__doc__ for name in mcp.__all__)
    from tools import Tool

    assert issubclass(mcp.MCPTool, Tool)


def test_agentkit_imports_without_the_extra_and_agentkit_mcp_names_it(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "sys.modules['mcp'] = None\n"  # as if not installed
        "import agentkit\n"
        "agentkit.Agent(fast=agentkit.ScriptedModel(['x']))\n"
        "loaded = [m for m in ('torch', 'mcp', 'redis') if sys.modules.get(m) is not None]\n"
        "assert not loaded, loaded\n"
        "try:\n"
        "    import agentkit.mcp\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
    assert "pip install 'agentkit[mcp]'" in out.stdout
