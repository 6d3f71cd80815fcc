"""Test doubles and guards for applications built on agentkit.

- `ScriptedModel`: replays tool calls and answers.
- `FunctionModel`: answers with a function of the call.
- `block_network`: fails any connection that is not loopback.
"""

from agentkit._doubles import FunctionModel, ModelCall, ScriptedModel
from agentkit._netguard import block_network

__all__ = ["FunctionModel", "ModelCall", "ScriptedModel", "block_network"]
