"""The engine's public surface is pinned; every error is exported under one root."""

from __future__ import annotations

import importlib
import inspect

import engine
from engine import _errors

EXPECTED = [
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
"""`engine.__all__`, exactly: adding a public name means adding it here."""

SUBMODULE_SURFACES = {
    "engine.step": [
        "Decode", "IncrementalDetokenizer", "JsonConstraint", "Prefill", "Sequence", "StopMatcher",
    ],
    "engine.threads": ["CpuSample", "GovernorPolicy", "ThreadGovernor"],
}  # fmt: skip
"""Public modules holding the types `Engine`'s constructor and methods take (same rule)."""


def test_surface_is_pinned_and_sorted() -> None:
    assert engine.__all__ == EXPECTED == sorted(EXPECTED)
    for name, expected in SUBMODULE_SURFACES.items():
        assert importlib.import_module(name).__all__ == expected == sorted(expected)


def test_every_error_is_exported_under_the_root() -> None:
    errors = [
        c for _, c in inspect.getmembers(_errors, inspect.isclass) if issubclass(c, Exception)
    ]
    for cls in errors:
        assert issubclass(cls, engine.EngineError)
        assert cls.__name__ in engine.__all__


PUBLIC_MODULES = (
    "engine", "engine.kv_cache", "engine.loader", "engine.scheduler", "engine.speculative",
    "engine.step", "engine.threads",
)  # fmt: skip


def test_every_exported_exception_is_under_the_root() -> None:
    """Loader, scheduler and engine errors alike: `EngineError` catches all of them."""
    exported = []
    for name in PUBLIC_MODULES:
        module = importlib.import_module(name)
        for attr in getattr(module, "__all__", ()):
            item = getattr(module, attr)
            if isinstance(item, type) and issubclass(item, BaseException):
                exported.append(item)
    assert len(exported) >= 13  # engine's 10, the scheduler's 3 (ChatTemplateError twice)
    assert all(issubclass(cls, engine.EngineError) for cls in exported), exported


def test_config_validation() -> None:
    import pytest

    with pytest.raises(engine.ModelFormatError):
        engine.ModelConfig(
            vocab_size=10, dim=64, n_layers=1, n_heads=3, n_kv_heads=2, head_dim=16, hidden_dim=8
        )
    with pytest.raises(engine.UnsupportedModelError):
        engine.RopeScaling(kind="yarn", factor=2.0)
