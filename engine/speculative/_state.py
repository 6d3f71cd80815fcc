"""A request's speculation: its drafters, its adaptive draft length and its statistics.

Each step, `SpecState.propose` drafts up to γ tokens after the sequence's
context (the first drafter with a proposal wins); the engine's step
(`engine._step.step`) feeds them after the last token in one forward and
`engine._sequence.verify` accepts them while the target's own choice matches,
which reproduces plain decoding token for token. `SpecState.record` then
counts the outcome and lets the `GammaController` adapt γ, or give up.
"""

from __future__ import annotations

from collections.abc import Sequence as Seq
from dataclasses import dataclass, field
from typing import Protocol

import structlog

from engine._sequence import Sequence
from engine._types import SpeculativeStats
from engine.speculative._adaptive import GammaController

__all__ = ["Drafter", "SpecState"]

log = structlog.get_logger("engine.speculative")


class Drafter(Protocol):
    """Proposes tokens that likely follow a context."""

    kind: str  # "ngram" | "draft" | "distilled"

    def draft(self, context: Seq[int], k: int) -> list[int]:
        """Up to ``k`` tokens following ``context`` (prompt + output so far); [] for none."""
        ...


@dataclass
class SpecState:
    """Speculative bookkeeping of one sequence.

    Attributes:
        drafters: Tried in order; the first non-empty draft is used.
        controller: Adapts γ and switches speculation off when it does not pay.
        drafted, accepted: Totals over the generation.
        target_steps: Target forward passes of the decode phase.
        kinds: Drafter kinds that produced drafts.
        fallback_reason: Why speculation stopped, if it did.
    """

    drafters: tuple[Drafter, ...]
    controller: GammaController = field(default_factory=GammaController)
    drafted: int = 0
    accepted: int = 0
    target_steps: int = 0
    kinds: set[str] = field(default_factory=set)
    fallback_reason: str | None = None

    def propose(self, seq: Sequence) -> list[int]:
        """This step's draft for ``seq`` (empty when speculation is off or nothing matches)."""
        if self.fallback_reason is not None or not self.controller.active:
            self.fallback_reason = self.fallback_reason or self.controller.disabled_reason
            return []
        if self.controller.wants_plain_probe:
            return []  # a timed plain step: the baseline speculation must beat
        room = seq.params.max_tokens - len(seq.output)  # never draft past max_tokens
        k = min(self.controller.gamma, room - 1)
        if k <= 0:
            return []
        context = seq.prompt + seq.output
        for drafter in self.drafters:
            try:
                tokens = drafter.draft(context, k)
            except Exception as exc:  # a broken drafter must never cost a wrong token
                self.fallback_reason = f"drafter {drafter.kind} failed: {exc!r}"
                log.warning("speculative.drafter_failed", kind=drafter.kind, error=repr(exc))
                return []
            if tokens:
                self.kinds.add(drafter.kind)
                return tokens[:k]
        return []

    def record(self, drafted: int, accepted: int) -> None:
        """Count one target step that verified ``drafted`` tokens and accepted ``accepted``."""
        self.target_steps += 1
        if drafted:
            self.drafted += drafted
            self.accepted += accepted
            self.controller.update(drafted, accepted)

    def observe_alone(self, drafted: int, tokens: int, seconds: float) -> None:
        """Time one step of this request decoding alone, for the controller's speed check.

        Call before `record` (the controller ignores its first speculative
        step, which pays one-off costs). ``seconds`` covers drafting, the
        forward and verification; ``tokens`` is what the step emitted.
        """
        c = self.controller
        if not c.active:
            return
        if drafted:
            c.observe_speculative(tokens, seconds, drafted)
        elif c.wants_plain_probe:
            c.observe_plain(seconds)

    def stats(self) -> SpeculativeStats:
        """The statistics object reported with results and stream snapshots."""
        if not self.kinds:
            mode = "off"
        elif len(self.kinds) > 1:
            mode = "mixed"
        else:
            mode = next(iter(self.kinds))
        steps = max(self.target_steps, 1)
        return SpeculativeStats(
            mode=mode,  # type: ignore[arg-type]
            drafted=self.drafted,
            accepted=self.accepted,
            acceptance_rate=self.accepted / self.drafted if self.drafted else 0.0,
            target_steps=self.target_steps,
            mean_accepted_length=1.0 + self.accepted / steps,
            fallback_reason=self.fallback_reason,
        )
