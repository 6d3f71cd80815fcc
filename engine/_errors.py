"""Typed errors raised by the engine.

Exception tree::

    EngineError                 catch this to handle any engine failure
    ├── EngineConfigError       a setting of the engine, scheduler, drafter or threads is
    │                           invalid (also a ValueError); fix the configuration
    ├── ModelLoadError          catch this for any model that cannot be loaded
    │   ├── ModelFormatError    the file parses, but a value, shape or size in it is invalid
    │   └── UnsupportedModelError  the architecture or a tensor type is not supported
    ├── InvalidRequestError     catch this for any request that cannot succeed as sent (fix it)
    │   ├── ContextOverflowError    the prompt (plus one new token) does not fit the context
    │   ├── InvalidSamplingError    a sampling parameter, stop, seed or JSON schema is invalid
    │   └── ChatTemplateError       the model's chat template rejected the conversation
    ├── CapacityError           no KV-cache slot or queue place now; retry later
    │   (engine.scheduler adds QueueFullError and DeadlineError)
    └── EngineClosedError       the engine is shutting down; send new requests elsewhere
        (engine.scheduler adds SchedulerClosedError)

The branches say who can fix what: the caller (`InvalidRequestError`: the same
request fails again), time (`CapacityError`: the same request may succeed
later) or the operator (`EngineClosedError`). The HTTP server maps them to
400, 429 and 503; any other exception is an internal fault.

Expected outcomes of a generation (deadline, cancellation, stop) are not errors:
they are reported in ``GenerationResult.finish_reason``.
"""

from __future__ import annotations

__all__ = [
    "CapacityError",
    "ChatTemplateError",
    "ContextOverflowError",
    "EngineClosedError",
    "EngineConfigError",
    "EngineError",
    "InvalidRequestError",
    "InvalidSamplingError",
    "ModelFormatError",
    "ModelLoadError",
    "UnsupportedModelError",
]


class EngineError(Exception):
    """Root of every error the engine raises."""


class EngineConfigError(EngineError, ValueError):
    """A configuration value is invalid (scheduler, speculation, threads, caches).

    Also a `ValueError`, so code that caught the plain `ValueError` these
    constructors raised before still works.
    """


class ModelLoadError(EngineError):
    """The model could not be read (missing, truncated or malformed file).

    Attributes:
        path: the file or folder that failed to load.
    """

    def __init__(self, message: str, *, path: str = "") -> None:
        super().__init__(message)
        self.path = path


class ModelFormatError(ModelLoadError):
    """The file parses, but what it says is invalid or inconsistent.

    A hyper-parameter out of range (``n_heads=0``, a NaN epsilon, a context of
    2^40), a missing or mistyped metadata key, or a tensor whose shape, type or
    byte size does not match the config or the file.

    Attributes:
        path: the file or folder that failed to load.
        field: the offending metadata key or tensor name ("" when not one).
    """

    def __init__(self, message: str, *, path: str = "", field: str = "") -> None:
        super().__init__(message, path=path)
        self.field = field


class UnsupportedModelError(ModelLoadError):
    """The model is readable but uses an architecture or tensor type we do not run."""


class InvalidRequestError(EngineError, ValueError):
    """The request is invalid as sent: the caller's mistake; retrying it cannot help."""


class ContextOverflowError(InvalidRequestError):
    """The prompt does not fit in the context window.

    Attributes:
        prompt_tokens: the prompt's length in tokens.
        max_seq_len: the engine's context length.
    """

    def __init__(self, message: str, *, prompt_tokens: int, max_seq_len: int) -> None:
        super().__init__(message)
        self.prompt_tokens = prompt_tokens
        self.max_seq_len = max_seq_len


class InvalidSamplingError(InvalidRequestError):
    """A sampling parameter is invalid (the caller's mistake).

    Attributes:
        field: the offending parameter's name.
    """

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.field = field


class ChatTemplateError(InvalidRequestError):
    """The chat template raised (``raise_exception``) or failed to render the conversation."""


class CapacityError(EngineError):
    """No KV-cache slot is free: the engine is at its request capacity."""


class EngineClosedError(EngineError):
    """The engine (its scheduler) was closed: it takes no new requests and drops waiting ones."""
