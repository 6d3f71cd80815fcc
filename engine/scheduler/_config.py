"""Scheduler settings and its statistics snapshot."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.scheduler._prefix_cache import PrefixCacheStats
from engine.scheduler._request import Request

__all__ = ["SchedulerConfig", "SchedulerStats", "validate"]


@dataclass(frozen=True)
class SchedulerConfig:
    """Scheduler settings.

    Attributes:
        max_queue: waiting requests at most (more: `QueueFullError`).
        prefill_chunk: prompt tokens one request feeds per step.
        prefill_budget: prompt tokens all requests feed per step together.
        row_budget: rows per step beyond which drafting stops paying (γ cap).
        stats_every: decode steps between `StatsEvent` snapshots (0: none).
        prefix_cache: keep finished slots for reuse by later prompts.
        prefix_block: tokens per hashed prefix block.
        prefix_max_tokens: memory cap of the prefix cache in tokens (None: slots only).
        slack_per_token_s: virtual-deadline slack per expected token for
            requests without a deadline (ranks short requests first).
        max_batch: running requests at most (None: one per KV slot); 1 serves
            requests one at a time (the sequential baseline).
    """

    max_queue: int = 64
    prefill_chunk: int = 64
    prefill_budget: int = 128
    row_budget: int = 32
    stats_every: int = 4
    prefix_cache: bool = True
    prefix_block: int = 16
    prefix_max_tokens: int | None = None
    slack_per_token_s: float = 0.05
    max_batch: int | None = None

    def __post_init__(self) -> None:
        positive = ("max_queue", "prefill_chunk", "prefill_budget", "row_budget", "prefix_block")
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.max_batch is not None and self.max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {self.max_batch}")
        if self.stats_every < 0 or self.slack_per_token_s < 0:
            raise ValueError("stats_every and slack_per_token_s must be >= 0")


@dataclass(frozen=True)
class SchedulerStats:
    """A snapshot of the scheduler.

    Attributes:
        running: requests holding a slot.
        waiting: requests in the queue.
        free_slots: KV slots neither running nor parked.
        steps: steps run so far.
        rows: forward rows computed so far.
        wasted_fraction: rows thrown away (rejected drafts) / rows.
        prefix: prefix-cache counters (None when disabled).
    """

    running: int
    waiting: int
    free_slots: int
    steps: int
    rows: int
    wasted_fraction: float
    prefix: PrefixCacheStats | None


def validate(eng: Any, req: Request) -> None:
    """Check a request's prompt and parameters; build its JSON constraint.

    Raises:
        ContextOverflowError, InvalidSamplingError: a bad prompt or schema.
    """
    eng.check_prompt(req.ids, req.params)
    if req.params.json_schema is not None:
        req.constraint = eng.json_constraint(req.params.json_schema)
