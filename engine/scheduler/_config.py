"""Scheduler settings and its statistics snapshot."""

from __future__ import annotations

from dataclasses import dataclass

from engine._errors import EngineConfigError
from engine._runner import ModelRunner
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
        urgent_decode_rows: decode rows per step at most (drafts included)
            while an urgent request is decoding (None: no cap). Decoding
            requests get rows in urgency order until the cap is spent; the
            others skip the step, keeping their slot. Prompt chunks keep
            ``prefill_budget``.
        urgent_output_tokens: a request is urgent when its expected output is at
            most this many tokens (or its deadline is tighter than its virtual one).
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
    # 8 rows cost 2.3x one row on 2 cores (measured forward: 17.6 ms vs 7.8 ms), so a
    # short turn's tokens stay within ~2.5x of their unloaded pace; 16 rows cost 4.3x
    urgent_decode_rows: int | None = 8
    urgent_output_tokens: int = 64  # the upper bound of the third output bucket (33-64)

    def __post_init__(self) -> None:
        positive = ("max_queue", "prefill_chunk", "prefill_budget", "row_budget", "prefix_block")
        for name in positive:
            if getattr(self, name) < 1:
                raise EngineConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.max_batch is not None and self.max_batch < 1:
            raise EngineConfigError(f"max_batch must be >= 1, got {self.max_batch}")
        if self.urgent_decode_rows is not None and self.urgent_decode_rows < 1:
            raise EngineConfigError(
                f"urgent_decode_rows must be >= 1 or None, got {self.urgent_decode_rows}"
            )
        if self.stats_every < 0 or self.slack_per_token_s < 0 or self.urgent_output_tokens < 0:
            raise EngineConfigError(
                "stats_every, slack_per_token_s, urgent_output_tokens must be >= 0"
            )


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
        capped_steps: steps planned under ``urgent_decode_rows``.
        deferred: request-steps skipped by the cap (a running request given no
            row in a capped step; it keeps its slot and KV).
        threads: OpenMP threads of the latest step (the engine's governor may
            change it between steps; docs/threads.md).
    """

    running: int
    waiting: int
    free_slots: int
    steps: int
    rows: int
    wasted_fraction: float
    prefix: PrefixCacheStats | None
    capped_steps: int = 0
    deferred: int = 0
    threads: int = 0


def validate(eng: ModelRunner, req: Request) -> None:
    """Check a request's prompt and parameters; build its JSON constraint.

    Raises:
        ContextOverflowError, InvalidSamplingError: a bad prompt or schema.
    """
    eng.check_prompt(req.ids, req.params)
    if req.params.json_schema is not None:
        req.constraint = eng.json_constraint(req.params.json_schema)
