"""Test doubles, guards and a faulty endpoint for applications built on agentkit.

- `ScriptedModel`: replays tool calls and answers.
- `FunctionModel`: answers with a function of the call.
- `block_network`: fails any connection that is not loopback.
- `FaultServer` / `serve_faults`: an OpenAI-compatible endpoint on loopback that
  injects what a deep tier does on a bad day (5xx, 429 storms with
  ``Retry-After``, stalls, HTML error pages, malformed JSON, broken streams),
  scripted by a `FaultPlan`; point an `agentkit.OpenAIModel` at its ``base_url``
  to test retries, fallbacks and budgets. `FAULTS` names the faults. These
  four need the ``server`` extra (starlette, uvicorn) and are imported on first
  use, so the doubles above work without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agentkit._doubles import FunctionModel, ModelCall, ScriptedModel
from agentkit._netguard import block_network

if TYPE_CHECKING:
    from agentkit.testing._fault_server import FAULTS, FaultPlan, FaultServer, serve_faults

__all__ = [
    "FAULTS",
    "FaultPlan",
    "FaultServer",
    "FunctionModel",
    "ModelCall",
    "ScriptedModel",
    "block_network",
    "serve_faults",
]

_NEEDS_SERVER_EXTRA = frozenset({"FAULTS", "FaultPlan", "FaultServer", "serve_faults"})


def __getattr__(name: str) -> Any:
    """The fault server's names, imported on first use (they need the ``server`` extra)."""
    if name not in _NEEDS_SERVER_EXTRA:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        from agentkit.testing import _fault_server
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError(
            f"agentkit.testing.{name} needs the server extra: pip install 'agentkit[server]' "
            f"({exc})",
            name=exc.name,
        ) from exc
    return getattr(_fault_server, name)
