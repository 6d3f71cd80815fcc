"""`distill`: train a small draft for a target on text the target itself writes.

Phases (each resumable from ``out``):

1. generate — the target answers the prompt set through the engine's batched
   scheduler (`engine.distill._generate`): greedy answers to every prompt,
   sampled ones to part of the training prompts, with its top-k next-token
   distribution at every response position, in shards;
2. train — choose the kept vocabulary (the K tokens the target emits most),
   copy a few target blocks into a plain torch draft, train it against the
   target's distributions, streaming the shards (`engine.distill._train`);
3. report — held-out greedy acceptance per category, before and after, next
   to the exported draft (``draft.json``, ``draft.safetensors``, ``report.json``).
"""

from __future__ import annotations

import pathlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from engine._errors import EngineConfigError
from engine.distill._corpus import PromptSpec, build_prompt_set, read_corpus
from engine.distill._data import read_prompts
from engine.distill._generate import GenConfig, GenProgress, generate

__all__ = [
    "DistillConfig",
    "DistillProgress",
    "default_prompts_path",
    "distill",
    "load_prompt_set",
]

Phase = Literal["generate", "train", "all"]


def default_prompts_path() -> pathlib.Path:
    """The small prompt set the first draft was trained on (copied into the package)."""
    return pathlib.Path(__file__).parent / "data" / "distill_prompts.jsonl"


@dataclass(frozen=True)
class DistillConfig:
    """Everything that determines a distillation run.

    Attributes:
        out: output folder (prompt set, shards, manifest, checkpoint, draft, report).
        target: ``"default"`` or a model path `engine.Engine.load` reads.
        prompts: JSONL prompt set (`read_prompts`); None: the corpus, else the bundled set.
        corpus: the routing corpus folder (``dev.jsonl``, ``train/``) to build prompts from.
        phase: ``generate``, ``train`` or ``all``.
        gen: generation settings (must match to continue a run).
        tokens: response tokens to generate in all (the run stops starting jobs there).
        time_limit_s: generation stops after this long (None: no limit).
        concurrency: requests in flight (KV slots of the generating engine).
        threads: compute threads of the generating engine (None: adaptive).
        steps: optimizer steps.
        resume: continue training from the last checkpoint.
        init_layers: target blocks the draft starts from (negative = from the end).
        kept_vocab: rows of the draft's cut head.
        batch_seqs: sequences per training step.
        max_len: sequence length cap in training.
        lr: peak learning rate.
        bf16: train with bf16 autocast (fast where the CPU has AVX-512 BF16 or AMX).
        seed: seed of the data order.
        limit: use only the first N prompts (smoke runs).
    """

    out: pathlib.Path
    target: str = "default"
    prompts: pathlib.Path | None = None
    corpus: pathlib.Path | None = None
    phase: Phase = "all"
    gen: GenConfig = field(default_factory=GenConfig)
    tokens: int = 1_000_000
    time_limit_s: float | None = None
    concurrency: int = 16
    threads: int | None = None
    steps: int = 400
    resume: bool = False
    init_layers: tuple[int, ...] = (0, 1)
    kept_vocab: int = 8192
    batch_seqs: int = 8
    max_len: int = 256
    lr: float = 1e-3
    bf16: bool = False
    seed: int = 0
    limit: int | None = None

    def __post_init__(self) -> None:
        if self.steps < 1 or self.kept_vocab < 1 or self.tokens < 1 or self.concurrency < 1:
            raise EngineConfigError("steps, kept_vocab, tokens and concurrency must be >= 1")
        if not self.init_layers:
            raise EngineConfigError("init_layers must name at least one target block")
        if self.batch_seqs < 1 or self.max_len < 8 or self.lr <= 0:
            raise EngineConfigError("batch_seqs >= 1, max_len >= 8, lr > 0 required")
        if self.phase not in ("generate", "train", "all"):
            raise EngineConfigError(f"phase must be generate, train or all, not {self.phase!r}")


class DistillProgress(GenProgress, Protocol):
    """Where `distill` reports progress (the CLI draws rich progress bars)."""

    def phase(self, name: str, total: int) -> None:
        """A new training phase starts with ``total`` units of work."""

    def advance(self, n: int, info: str = "") -> None:
        """``n`` units done; ``info`` is a short status (e.g. the loss)."""


def load_prompt_set(
    cfg: DistillConfig, grounded: Callable[[str], list[dict[str, str]]] | None = None
) -> list[PromptSpec]:
    """The prompt set of ``cfg``: a JSONL set, the corpus, or the bundled set (first ``limit``)."""
    if cfg.prompts is not None:
        specs = read_prompts(cfg.prompts)
    elif cfg.corpus is not None:
        rows, _ = read_corpus(cfg.corpus)
        specs = build_prompt_set(rows, grounded)
    else:
        specs = read_prompts(default_prompts_path())
    return specs[: cfg.limit]


def run_generation(
    cfg: DistillConfig, prompts: Sequence[PromptSpec], progress: GenProgress | None = None
) -> dict[str, Any]:
    """Phase 1: answer the prompts through the engine's scheduler until ``cfg.tokens`` exist."""
    from engine._engine import Engine
    from engine.scheduler import SchedulerConfig

    g = cfg.gen
    engine = Engine.load(
        cfg.target, threads=cfg.threads, max_seq_len=g.max_prompt_tokens + g.max_new + 8,
        max_slots=cfg.concurrency, speculation=True, draft="ngram",
        # throughput, not latency: no row cap for short answers, a queue for every worker
        scheduler=SchedulerConfig(max_queue=max(64, cfg.concurrency), urgent_decode_rows=None),
    )  # fmt: skip
    try:
        return generate(
            engine, prompts, pathlib.Path(cfg.out), g, target_tokens=cfg.tokens,
            time_limit_s=cfg.time_limit_s, concurrency=cfg.concurrency, progress=progress,
        )  # fmt: skip
    finally:
        # close() stops the scheduler. The compute thread is left parked: stopping it
        # right before the process exits aborts in OpenMP's teardown of its team
        # ("terminate called without an active exception"), seen on every short run.
        engine.close()


def distill(
    cfg: DistillConfig,
    progress: DistillProgress | None = None,
    grounded: Callable[[str], list[dict[str, str]]] | None = None,
) -> dict[str, Any]:
    """Run the phases of ``cfg`` in ``cfg.out``.

    Returns:
        The training report (also ``cfg.out / "report.json"``), or the
        generation manifest when only generating.
    """
    out = pathlib.Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {}
    if cfg.phase in ("generate", "all"):
        needs_prompts = not (out / "prompts.jsonl").exists()
        prompts = load_prompt_set(cfg, grounded) if needs_prompts else []
        result = run_generation(cfg, prompts, progress)
    if cfg.phase in ("train", "all"):
        from engine.distill._report import train_and_report

        result = train_and_report(cfg, progress)
    return result
