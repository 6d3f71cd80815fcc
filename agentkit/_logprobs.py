"""The engine's per-token log-probabilities as `LogprobEntry` items (token text and bytes).

Shared by the two adapters over the engine: ``EngineModel`` (chat) and the
server's ``EngineTextBackend`` (completions). The engine is reached through
the object passed in, so importing this module does not load torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agentkit._model import LogprobEntry

__all__ = ["logprob_entries"]


def _entry(
    engine: Any, token_id: int, logprob: float, top: tuple[LogprobEntry, ...]
) -> LogprobEntry:
    raw: bytes = engine.token_bytes(token_id)
    # built without validation: ~20 entries a token with 20 alternatives, all well-typed here
    return LogprobEntry.model_construct(
        token=raw.decode("utf-8", "backslashreplace"),
        logprob=logprob,
        token_bytes=tuple(raw),
        top_logprobs=top,
    )


def logprob_entries(engine: Any, logprobs: Sequence[Any] | None) -> tuple[LogprobEntry, ...] | None:
    """``engine.TokenLogprob`` items (ids) as `LogprobEntry` items (text); None stays None.

    Args:
        engine: The ``engine.Engine`` that generated them (its tokenizer names the tokens).
        logprobs: A delta's or a result's ``engine.TokenLogprob`` list, or None.
    """
    if logprobs is None:
        return None
    return tuple(
        _entry(engine, e.token_id, e.logprob, tuple(_entry(engine, t, lp, ()) for t, lp in e.top))
        for e in logprobs
    )
