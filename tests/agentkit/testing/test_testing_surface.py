"""`agentkit.testing`: its public names, and the fault server as a documented, validated utility."""

from __future__ import annotations

import doctest
import math
import subprocess
import sys
import textwrap
from typing import Any

import httpx
import pytest

import agentkit.testing
from agentkit.errors import ConfigError
from agentkit.testing import FAULTS, FaultPlan, serve_faults
from agentkit.testing import _fault_server as fault_module

SURFACE = [
    "FAULTS", "FaultPlan", "FaultServer", "FunctionModel", "ModelCall", "ScriptedModel",
    "block_network", "serve_faults",
]  # fmt: skip


def test_the_public_surface_is_pinned() -> None:
    assert agentkit.testing.__all__ == SURFACE
    for name in SURFACE:
        assert getattr(agentkit.testing, name) is not None
    with pytest.raises(AttributeError):
        agentkit.testing.Nothing  # type: ignore[attr-defined]  # noqa: B018


def test_the_doubles_import_without_the_server_extra() -> None:
    # A meta-path finder that refuses starlette and uvicorn stands in for a core install.
    code = """
        import sys
        class NoServerExtra:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("starlette", "uvicorn"):
                    raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        sys.meta_path.insert(0, NoServerExtra())
        from agentkit.testing import FunctionModel, ScriptedModel, block_network
        try:
            from agentkit.testing import FaultServer
        except ModuleNotFoundError as exc:
            print(exc)
    """
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert "needs the server extra: pip install 'agentkit[server]'" in proc.stdout


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"queue": ["503", "timeout"]}, "queue"),
        ({"error_rate": 1.5}, "error_rate"),
        ({"error_rate": math.nan}, "error_rate"),
        ({"storm_every": 4, "storm_length": 5}, "storm_length"),
        ({"storm_every": -1}, "storm_length"),
        ({"stall_s": -1.0}, "stall_s"),
        ({"delay_s": math.nan}, "delay_s"),
        ({"break_after": -2}, "break_after"),
    ],
)
def test_a_plan_that_cannot_be_served_is_a_config_error(change: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as info:
        FaultPlan(**change)
    assert info.value.field == field


def test_every_named_fault_can_be_scripted() -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    quick = [f for f in FAULTS if f not in ("stall", "break")]  # those two wait or drop
    with serve_faults(FaultPlan(queue=list(quick), retry_after_s=0.5)) as server:
        url = server.base_url + "/chat/completions"
        answers = [httpx.post(url, json=body, timeout=5) for _ in quick]
    assert server.faults == quick
    by_fault = dict(zip(quick, answers, strict=True))
    assert by_fault["ok"].json()["choices"][0]["message"]["content"] == FaultPlan().reply
    assert [by_fault[s].status_code for s in ("500", "502", "503")] == [500, 502, 503]
    assert by_fault["429"].headers["retry-after"] == "0.5"
    assert by_fault["html"].headers["content-type"].startswith("text/html")
    with pytest.raises(ValueError):
        by_fault["badjson"].json()
    assert by_fault["tool"].json()["choices"][0]["finish_reason"] == "tool_calls"


def test_the_docstring_example_runs() -> None:
    result = doctest.testmod(fault_module)
    assert result.attempted > 0 and result.failed == 0
