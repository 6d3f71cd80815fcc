"""agentkit: real-time agents with a fast in-process tier and a deep tier.

Import cost matters to latency-sensitive users: this package never imports
torch; the bundled engine is loaded lazily, only when a fast tier uses it.

Example:
    >>> from agentkit import Agent, Runner, ScriptedModel
    >>> agent = Agent(instructions="Be brief.", fast=ScriptedModel(["Hello!"]))
    >>> result = Runner.run_sync(agent, "hi")
    >>> (result.text, result.outcome, result.tier)
    ('Hello!', 'ok', 'fast')
"""

from agentkit._agent import Agent, Price
from agentkit._budget import BudgetPolicy
from agentkit._doubles import FunctionModel, ScriptedModel
from agentkit._engine_model import EngineModel
from agentkit._errors import AgentkitError
from agentkit._fallback import FallbackModel
from agentkit._messages import Message, ToolCall, Usage
from agentkit._model import Model, ModelResponse, SamplingSettings, SpeculativeStats
from agentkit._openai_model import OpenAIModel
from agentkit._result import Hop, Outcome, TurnResult
from agentkit._runner import Runner
from agentkit._safety_types import AllowAll, SafetyFilter, SafetyVerdict
from agentkit._sessions import SQLiteStore
from agentkit._tool_sources import ToolSource
from agentkit._version import __version__ as __version__
from agentkit.safety import LocalSafetyFilter

__all__ = [
    "Agent",
    "AgentkitError",
    "AllowAll",
    "BudgetPolicy",
    "EngineModel",
    "FallbackModel",
    "FunctionModel",
    "Hop",
    "LocalSafetyFilter",
    "Message",
    "Model",
    "ModelResponse",
    "OpenAIModel",
    "Outcome",
    "Price",
    "Runner",
    "SQLiteStore",
    "SafetyFilter",
    "SafetyVerdict",
    "SamplingSettings",
    "ScriptedModel",
    "SpeculativeStats",
    "ToolCall",
    "ToolSource",
    "TurnResult",
    "Usage",
]
