"""Public surfaces of `router` and `agentkit.safety`, and the no-torch import rule."""

from __future__ import annotations

import subprocess
import sys

import agentkit.safety
import router


def test_router_surface() -> None:
    # Exactly, in ruff's order (constants first): adding a public name means adding it here.
    assert router.__all__ == [
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
    ]
    for name in router.__all__:
        assert getattr(router, name) is not None


def test_safety_surface() -> None:
    # Exactly: adding a public name means adding it here.
    assert agentkit.safety.__all__ == [
        "CATEGORIES",
        "GuardStep",
        "HoldbackGuard",
        "HoldbackStats",
        "LocalSafetyFilter",
        "PIISpan",
        "RemoteModerationFilter",
        "SafetyPolicy",
        "StreamGuard",
        "find_pii",
        "iban_valid",
        "luhn_valid",
        "redact",
    ]
    for name in agentkit.safety.__all__:
        assert getattr(agentkit.safety, name) is not None


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
