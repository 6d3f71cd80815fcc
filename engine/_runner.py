"""`ModelRunner`: what the scheduler needs from an engine, and nothing more.

Serving splits as in vLLM: the scheduler (`engine.scheduler`) decides which
requests run and which rows each step computes; the model runner executes a
step and owns what steps run on: the model, its KV cache, the lock held
around each forward and the thread (and thread count) steps run with.
`engine.Engine` is the runner. The scheduler depends on this protocol only,
so the engine can create its scheduler without the two importing each other.
"""

from __future__ import annotations

from collections.abc import Sequence as Seq
from typing import Any, Protocol

from tokenizers import Tokenizer

from engine._compute import ComputeThread
from engine._config import ModelConfig
from engine._step import Decode, Prefill
from engine._structured import JsonConstraint
from engine._threads import ThreadGovernor
from engine._types import SamplingParams
from engine.kv_cache import KVCache

__all__ = ["ModelRunner"]


class ModelRunner(Protocol):
    """The engine as its scheduler sees it.

    Attributes:
        cache: the KV cache; the scheduler allocates, parks and frees its slots.
        max_seq_len: context per request (prompt and output).
        tokenizer, config: for each request's decoding state (detokenizer, EOS ids).
        threads: OpenMP threads steps run with (the most, when ``governor`` adapts it).
        governor: adapts the thread count between steps, or None (fixed).
        compute: the thread the model was loaded on, where steps must run
            (`engine._compute`); None runs them on a thread of the scheduler's own.
    """

    @property
    def cache(self) -> KVCache: ...
    @property
    def max_seq_len(self) -> int: ...
    @property
    def tokenizer(self) -> Tokenizer: ...
    @property
    def config(self) -> ModelConfig: ...
    @property
    def threads(self) -> int: ...
    @property
    def governor(self) -> ThreadGovernor | None: ...
    @property
    def compute(self) -> ComputeThread | None: ...

    def check_prompt(self, ids: Seq[int], params: SamplingParams) -> None:
        """Raise ContextOverflowError or InvalidSamplingError for a prompt that cannot run."""
        ...

    def json_constraint(self, schema: dict[str, Any]) -> JsonConstraint:
        """A fresh constraint for one request (InvalidSamplingError: a bad schema)."""
        ...

    def execute(self, prefills: Seq[Prefill], decodes: Seq[Decode]) -> list[tuple[int, int]]:
        """Run one step (`engine._step.step`); (rows kept, drafts accepted) per decode."""
        ...
