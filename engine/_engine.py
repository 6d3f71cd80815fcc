"""`Engine`: the async front of the in-process model (load, generate, stream, chat)."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import AsyncGenerator, Mapping
from collections.abc import Sequence as Seq
from contextlib import aclosing
from typing import Any

import anyio
import torch

from engine._compute import ComputeThread
from engine._errors import ContextOverflowError, EngineError, InvalidSamplingError
from engine._sequence import Sequence
from engine._step import Decode, Prefill, step
from engine._structured import JsonConstraint, make_ll_tokenizer
from engine._text import token_bytes
from engine._threads import ThreadGovernor, physical_cores
from engine._types import (
    GenerationResult,
    SamplingParams,
    StreamEvent,
)
from engine.kv_cache import KV_DTYPES, KVCache
from engine.loader import LoadedModel, load_model
from engine.scheduler import Scheduler, SchedulerConfig
from engine.speculative._factory import DrafterFactory, SpeculationSettings

__all__ = ["Engine", "physical_cores"]


def _log(event: str, **fields: Any) -> None:
    """Log through structlog when the application already imported it.

    Importing structlog pulls in rich and pygments (~0.6 s), a third of the
    engine's cold-start budget, so the engine never imports it itself.
    """
    structlog = sys.modules.get("structlog")
    if structlog is not None:
        structlog.get_logger(__name__).info(event, **fields)


class Engine:
    """The in-process engine: weights, KV-cache slots and the steps that decode.

    Build it with `Engine.load`. `generate` and `stream` go through the
    continuous-batching `engine.scheduler.Scheduler` (started on first use):
    concurrent requests share each forward pass, speculate inside the batch
    and reuse cached prompt prefixes; deadlines and cancellation are honoured
    between steps. The engine is the scheduler's `engine._runner.ModelRunner`:
    it executes each step (`execute`) under its lock.
    """

    def __init__(
        self,
        loaded: LoadedModel,
        cache: KVCache,
        threads: int,
        speculation: SpeculationSettings | None = None,
        scheduler_config: SchedulerConfig | None = None,
        governor: ThreadGovernor | None = None,
    ) -> None:
        """Wrap a loaded model and its cache (prefer `Engine.load`).

        Args:
            loaded: the model, tokenizer and chat template.
            cache: the KV cache (one slot per concurrent request).
            threads: torch intra-op threads: the fixed count, or the most the
                governor may use.
            speculation: speculation settings (default: n-gram lookup).
            scheduler_config: the scheduler's settings (default: its defaults).
            governor: adapts the thread count to other processes' load between
                steps (None: ``threads``, fixed). See docs/threads.md.

        Raises:
            DraftMismatchError, ModelLoadError: a draft checkpoint that does not fit.
        """
        self.loaded = loaded
        self.model = loaded.model
        self.tokenizer = loaded.tokenizer
        self.config = loaded.config
        self.cache = cache
        self.threads = threads
        self.governor = governor
        self._lock = threading.Lock()  # one forward pass at a time: the cache is shared
        self._ll_tokenizer: Any = None
        settings = speculation or SpeculationSettings(draft="ngram")
        self.drafters: DrafterFactory = DrafterFactory(loaded, settings, cache.n_slots)
        self._scheduler_config = scheduler_config
        self._scheduler: Scheduler | None = None
        # The thread that loaded the model runs the scheduler's steps (set by `load`).
        self.compute: ComputeThread | None = None

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str] = "default",
        *,
        threads: int | None = None,
        max_seq_len: int = 4096,
        max_slots: int = 4,
        device: str = "cpu",
        speculation: bool = True,
        draft: str = "auto",
        scheduler: SchedulerConfig | None = None,
        kv_dtype: str = "float16",
    ) -> Engine:
        """Load a model and allocate its KV cache.

        Args:
            path: a ``.gguf`` file, an HF folder, or ``"default"`` (SmolLM2-135M-Instruct Q4_1).
            threads: torch intra-op threads, fixed. None or 0 (the default):
                adaptive, up to the physical cores, one fewer for each CPU
                other processes keep busy (`engine._threads.ThreadGovernor`;
                outputs are bit-identical whatever the count, docs/threads.md).
            max_seq_len: context per request (capped at the model's own).
            max_slots: concurrent requests (KV-cache slots).
            device: only ``"cpu"`` is supported for now.
            speculation: speculative decoding (exact: it never changes a token).
            draft: ``"auto"`` (n-gram lookup, plus the shipped distilled draft
                for the default model when it is expected to pay for itself,
                which it is not today: see `engine.speculative._payoff`), ``"ngram"``,
                or the path of a draft checkpoint sharing the target's tokenizer.
                Ignored when ``speculation`` is False.
            scheduler: continuous-batching settings (queue bound, prefill
                chunking, prefix cache); default: `SchedulerConfig()`.
            kv_dtype: ``"float16"`` (default, as llama.cpp) or ``"float32"``
                storage of keys and values. fp16 halves what a decode step
                reads from the cache, which grows with the context; it rounds
                each stored key and value once, the same way whatever the
                batch, so every exactness guarantee holds (docs/kv-cache.md).

        Raises:
            ModelLoadError, UnsupportedModelError: see `engine.loader.load_model`.
            DraftMismatchError: the draft's tokenizer differs from the model's.
            EngineError: bad arguments.
        """
        settings = SpeculationSettings(enabled=speculation, draft=draft if speculation else "ngram")
        if device != "cpu":
            raise EngineError(f"device {device!r} is not supported yet (only 'cpu')")
        if max_slots < 1 or max_seq_len < 2:
            raise EngineError("max_slots must be >= 1 and max_seq_len >= 2")
        if kv_dtype not in KV_DTYPES:
            raise EngineError(f"kv_dtype must be one of {sorted(KV_DTYPES)}, got {kv_dtype!r}")
        if threads is not None and threads < 0:
            raise EngineError(f"threads must be >= 1, or None/0 for adaptive; got {threads}")
        cache_dtype = KV_DTYPES[kv_dtype]
        n_threads = threads or physical_cores()
        governor = None if threads else ThreadGovernor(n_threads)
        torch.set_num_threads(n_threads)

        def build() -> Engine:
            torch.set_num_threads(n_threads)  # per thread in OpenMP
            loaded = load_model(path, max_seq_len)
            cfg = loaded.config
            seq_len = min(max_seq_len, cfg.max_seq_len)
            cache = KVCache(
                cfg.n_layers, max_slots, cfg.n_kv_heads, seq_len, cfg.head_dim, dtype=cache_dtype
            )
            return cls(loaded, cache, n_threads, settings, scheduler, governor)

        # Load on the thread that will run every step (see engine._compute).
        compute = ComputeThread()
        try:
            engine = compute.call(build)
        except BaseException:
            compute.stop()
            raise
        engine.compute = compute
        _log(
            "engine.loaded",
            source=engine.loaded.source,
            threads=n_threads,
            adaptive=governor is not None,
            slots=max_slots,
        )
        return engine

    @property
    def scheduler(self) -> Scheduler:
        """The continuous-batching scheduler (created on first use)."""
        if self._scheduler is None:
            self._scheduler = Scheduler(self, self._scheduler_config, self.drafters)
        return self._scheduler

    def close(self) -> None:
        """Stop the scheduler's driver (requests in flight get `SchedulerClosedError`)."""
        if self._scheduler is not None:
            self._scheduler.close()
            self._scheduler = None

    @property
    def max_seq_len(self) -> int:
        """Context length per request (prompt + output)."""
        return self.cache.max_seq_len

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` (special tokens in it recognised; BOS if the model wants it)."""
        ids: list[int] = self.tokenizer.encode(text, add_special_tokens=False).ids
        bos = self.config.bos_token_id
        if self.loaded.add_bos and bos is not None and (not ids or ids[0] != bos):
            ids.insert(0, bos)
        return ids

    def decode(self, ids: Seq[int]) -> str:
        """Text of ``ids``, special tokens skipped."""
        return str(self.tokenizer.decode(list(ids), skip_special_tokens=True))

    def token_bytes(self, token_id: int) -> bytes:
        """The bytes of one token (exact even for part of a UTF-8 character; see `TokenLogprob`)."""
        return token_bytes(self.tokenizer, token_id)

    def render_chat(
        self, messages: Seq[Mapping[str, Any]], tools: Seq[Mapping[str, Any]] | None = None
    ) -> str:
        """Render OpenAI-shaped messages (and tool schemas) with the model's chat template."""
        return self.loaded.chat_template.render(messages, tools=tools, add_generation_prompt=True)

    def check_prompt(self, ids: Seq[int], params: SamplingParams) -> None:
        """Check prompt token ids and stop ids against the vocabulary and the context.

        Raises:
            ContextOverflowError: the prompt leaves no room for a new token.
            InvalidSamplingError: an empty prompt or a token id outside the vocabulary.
        """
        if not ids:
            raise InvalidSamplingError("prompt is empty", field="prompt")
        vocab = self.config.vocab_size
        if any(not 0 <= t < vocab for t in ids) or any(
            not 0 <= t < vocab for t in params.stop_token_ids
        ):
            raise InvalidSamplingError(f"token ids must be in [0, {vocab})", field="prompt")
        if len(ids) >= self.max_seq_len:
            raise ContextOverflowError(
                f"prompt of {len(ids)} tokens does not fit the context of {self.max_seq_len}",
                prompt_tokens=len(ids),
                max_seq_len=self.max_seq_len,
            )

    def json_constraint(self, schema: dict[str, Any]) -> JsonConstraint:
        """A fresh JSON-schema constraint for one request (the grammar tokenizer is built once).

        Raises:
            InvalidSamplingError: the schema cannot be compiled.
        """
        if self._ll_tokenizer is None:
            cfg = self.config
            self._ll_tokenizer = make_ll_tokenizer(
                self.tokenizer, cfg.vocab_size, cfg.eos_token_ids
            )
        return JsonConstraint(self._ll_tokenizer, schema)

    def new_sequence(self, prompt: str | list[int], params: SamplingParams) -> Sequence:
        """Tokenize, validate and allocate a slot for one request (caller must `release` it).

        Raises:
            ContextOverflowError: the prompt leaves no room for a new token.
            InvalidSamplingError: empty prompt or bad schema/token ids.
            CapacityError: no free slot.
        """
        ids = self.encode(prompt) if isinstance(prompt, str) else list(prompt)
        self.check_prompt(ids, params)
        constraint = (
            None if params.json_schema is None else self.json_constraint(params.json_schema)
        )
        eos = self.config.eos_token_ids
        seq = Sequence.start(-1, ids, params, self.tokenizer, eos, constraint)
        seq.slot = self.cache.allocate()  # last: nothing after it can fail and leak the slot
        if self._scheduler is not None:  # a parked prefix in that slot is gone now
            self._scheduler.forget_slot(seq.slot)
        return seq

    def release(self, seq: Sequence) -> None:
        """Free the sequence's cache slot."""
        self.cache.free(seq.slot)

    def execute(self, prefills: Seq[Prefill], decodes: Seq[Decode]) -> list[tuple[int, int]]:
        """Run one step of the decoding ladder (`engine._step.step`), the forward under the lock.

        The scheduler's driver calls it; on the compute thread (see `engine._compute`).
        """
        return step(self.model, self.cache, prefills, decodes, self.max_seq_len, self._lock)

    async def generate(
        self,
        prompt: str | list[int],
        params: SamplingParams | None = None,
        deadline: float | None = None,
        cancel: anyio.Event | None = None,
    ) -> GenerationResult:
        """Generate a completion of ``prompt``.

        Args:
            prompt: text (tokenized as is: render chat first) or token ids.
            params: sampling parameters (default: greedy, 256 tokens).
            deadline: absolute ``time.monotonic()``; when it passes mid-generation,
                returns the text so far with finish_reason "deadline".
            cancel: when set, returns early with finish_reason "cancelled".

        Raises:
            ContextOverflowError, InvalidSamplingError: a bad prompt or parameter.
            DeadlineError: the request cannot start before ``deadline``.
            QueueFullError: too many requests are waiting.
            CapacityError: every slot is held outside the scheduler.
        """
        async with aclosing(self.stream(prompt, params, deadline, cancel)) as events:
            async for ev in events:
                if isinstance(ev, GenerationResult):
                    return ev
        raise EngineError("stream ended without a result")  # unreachable

    async def stream(
        self,
        prompt: str | list[int],
        params: SamplingParams | None = None,
        deadline: float | None = None,
        cancel: anyio.Event | None = None,
        stats_every: int = 8,
    ) -> AsyncGenerator[StreamEvent, None]:
        """Stream `TextDelta` events, a `StatsEvent` every ``stats_every`` steps, then the result.

        Arguments and errors as for `generate`. The request joins the running
        batch at the next step; its slot is freed (or parked in the prefix
        cache) as soon as it ends, fails or the consumer stops iterating.
        """
        params = params or SamplingParams()
        ids = self.encode(prompt) if isinstance(prompt, str) else list(prompt)
        events = self.scheduler.submit(
            ids, params, deadline, stats_every=stats_every, stop_on=cancel
        )
        completed = False
        try:
            async for ev in events:
                yield ev
            completed = True
        finally:
            await events.aclose()
            # A finished request's slot is released at the end of the step in flight:
            # wait that short moment so callers see the slot free on return. An abandoned
            # one (caller cancelled, deadline) must not wait: the caller's budget comes
            # first, and the scheduler frees the slot at the end of its step anyway.
            if completed:
                with anyio.CancelScope(shield=True), anyio.move_on_after(5):
                    while not events.request.done:
                        await anyio.sleep(0.002)
