"""The `Model` seam, the models that implement it, and their settings.

The models are also exported from `agentkit`; this module adds what their
constructors take: `OpenAIModel`'s `Timeouts`, `RetryPolicy` and
`CircuitBreaker` (a `FallbackModel` skips a model whose breaker is open).
"""

from agentkit._breaker import CircuitBreaker
from agentkit._engine_model import EngineModel
from agentkit._fallback import FallbackModel
from agentkit._model import Model, ModelResponse, SamplingSettings, SpeculativeStats
from agentkit._openai_model import OpenAIModel
from agentkit._openai_settings import RetryPolicy, Timeouts

__all__ = [
    "CircuitBreaker",
    "EngineModel",
    "FallbackModel",
    "Model",
    "ModelResponse",
    "OpenAIModel",
    "RetryPolicy",
    "SamplingSettings",
    "SpeculativeStats",
    "Timeouts",
]
