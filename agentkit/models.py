"""The `Model` seam, the models that implement it, and their settings.

The models are also exported from `agentkit`; this module adds what their
constructors take: `OpenAIModel`'s `Timeouts`, `RetryPolicy` and
`CircuitBreaker` (a `FallbackModel` skips a model whose breaker is open); and
the two optional warm-start seams a model (or a wrapper around one) may
implement: `Preloading` (loading since it was built: turns wait for it outside
their budget) and `Warmable` (loads and primes itself for `Runner.start`).
"""

from agentkit._breaker import CircuitBreaker
from agentkit._engine_model import EngineModel
from agentkit._fallback import FallbackModel
from agentkit._model import Model, ModelResponse, SamplingSettings, SpeculativeStats
from agentkit._openai_model import OpenAIModel
from agentkit._openai_settings import RetryPolicy, Timeouts
from agentkit._warm import Preloading, Warmable

__all__ = [
    "CircuitBreaker",
    "EngineModel",
    "FallbackModel",
    "Model",
    "ModelResponse",
    "OpenAIModel",
    "Preloading",
    "RetryPolicy",
    "SamplingSettings",
    "SpeculativeStats",
    "Timeouts",
    "Warmable",
]
