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
        "RouterConfigError",
        "RouterError",
        "RouterPolicy",
        "RuleRouter",
        "StreamSignals",
        "TierName",
        "normalize_text",
    ]
    for name in router.__all__:
        assert getattr(router, name) is not None


def test_every_exported_error_is_rooted() -> None:
    """One root per package (openai-agents style): every exception exported derives from it."""
    errors = [
        getattr(router, n)
        for n in router.__all__
        if isinstance(getattr(router, n), type) and issubclass(getattr(router, n), BaseException)
    ]
    assert router.RouterError in errors and len(errors) >= 2
    assert all(issubclass(e, router.RouterError) for e in errors)
    assert issubclass(router.RouterConfigError, ValueError)  # the old bare ValueError's callers


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
