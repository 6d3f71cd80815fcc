"""agentkit: real-time agents with a fast in-process tier and a deep tier.

Import cost matters to latency-sensitive users: this package never imports
torch; the bundled engine is loaded lazily, only when a fast tier uses it.
"""

from agentkit._doubles import FunctionModel, ScriptedModel
from agentkit._errors import AgentkitError
from agentkit._messages import Message, ToolCall, Usage
from agentkit._model import Model, ModelResponse, SamplingSettings, SpeculativeStats
from agentkit._result import Hop, Outcome, TurnResult
from agentkit._safety_types import AllowAll, SafetyFilter, SafetyVerdict

__all__ = [
    "AgentkitError",
    "AllowAll",
    "FunctionModel",
    "Hop",
    "Message",
    "Model",
    "ModelResponse",
    "Outcome",
    "SafetyFilter",
    "SafetyVerdict",
    "SamplingSettings",
    "ScriptedModel",
    "SpeculativeStats",
    "ToolCall",
    "TurnResult",
    "Usage",
]
