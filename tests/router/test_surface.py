"""Public surfaces of `router` and `agentkit.safety`, and the no-torch import rule."""

from __future__ import annotations

import subprocess
import sys

import agentkit.safety
import router


def test_router_surface() -> None:
    assert set(router.__all__) == {
        "REASONS",
        "Decision",
        "LayeredRouter",
        "RouteContext",
        "Router",
        "RouterPolicy",
        "RuleRouter",
        "StreamSignals",
        "TierName",
        "normalize_text",
    }
    for name in router.__all__:
        assert getattr(router, name) is not None


def test_safety_surface() -> None:
    assert agentkit.safety.__all__ == sorted(agentkit.safety.__all__)
    assert len(agentkit.safety.__all__) <= 10
    for name in ("LocalSafetyFilter", "RemoteModerationFilter", "SafetyPolicy"):
        assert name in agentkit.safety.__all__


def test_importing_and_routing_never_loads_torch() -> None:
    code = (
        "import sys, router, agentkit.safety\n"
        "from router import LayeredRouter, RouteContext\n"
        "LayeredRouter().route(RouteContext(message='what is 2+2?'))\n"
        "import anyio\n"
        "anyio.run(lambda: agentkit.safety.LocalSafetyFilter().check('hi', stage='input'))\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
