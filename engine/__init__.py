"""The bundled torch inference engine.

Example::

    engine = Engine.load("default")
    prompt = engine.render_chat([{"role": "user", "content": "Hi!"}])
    result = await engine.generate(prompt, SamplingParams(max_tokens=32))
"""

from engine._config import ModelConfig, RopeScaling
from engine._engine import Engine
from engine._errors import (
    CapacityError,
    ChatTemplateError,
    ContextOverflowError,
    EngineClosedError,
    EngineConfigError,
    EngineError,
    InvalidRequestError,
    InvalidSamplingError,
    ModelFormatError,
    ModelLoadError,
    UnsupportedModelError,
)
from engine._sequence import Sequence
from engine._types import (
    FinishReason,
    GenerationResult,
    SamplingParams,
    SpeculativeStats,
    StatsEvent,
    StreamEvent,
    TextDelta,
    TokenLogprob,
)
from engine.speculative._factory import SpeculationSettings

__all__ = [
    "CapacityError",
    "ChatTemplateError",
    "ContextOverflowError",
    "Engine",
    "EngineClosedError",
    "EngineConfigError",
    "EngineError",
    "FinishReason",
    "GenerationResult",
    "InvalidRequestError",
    "InvalidSamplingError",
    "ModelConfig",
    "ModelFormatError",
    "ModelLoadError",
    "RopeScaling",
    "SamplingParams",
    "Sequence",
    "SpeculationSettings",
    "SpeculativeStats",
    "StatsEvent",
    "StreamEvent",
    "TextDelta",
    "TokenLogprob",
    "UnsupportedModelError",
]
