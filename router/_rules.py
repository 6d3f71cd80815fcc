"""`RuleRouter`: a transparent keyword/regex router, the default and a test double."""

from __future__ import annotations

import re
from dataclasses import dataclass

from router._types import Decision, RouteContext, StreamSignals

__all__ = ["RuleRouter"]

_ARITHMETIC = re.compile(r"\d[\d,.]*\s*[-+*/×÷^%]\s*\d")
_DEPTH = re.compile(r"\b(step[- ]by[- ]step|prove|derive|explain why)\b", re.IGNORECASE)


@dataclass(frozen=True)
class RuleRouter:
    """Escalates flagged input, arithmetic and explicit requests for depth.

    Attributes:
        min_drafted: Draft tokens to observe before judging acceptance mid-stream.
        min_acceptance: Below this acceptance rate, a fast stream escalates.
    """

    min_drafted: int = 16
    min_acceptance: float = 0.5

    def route(self, context: RouteContext) -> Decision:
        """Deep for flagged input, arithmetic or depth requests; fast otherwise."""
        scores = {
            "flagged": 1.0 if context.flagged else 0.0,
            "math": 1.0 if _ARITHMETIC.search(context.message) else 0.0,
            "depth": 1.0 if _DEPTH.search(context.message) else 0.0,
        }
        reasons = tuple(f"{name} matched" for name, s in scores.items() if s >= 1.0)
        if reasons:
            return Decision("deep", scores, reasons)
        return Decision("fast", scores, ("routine",))

    def should_escalate(self, context: RouteContext, stats: StreamSignals) -> Decision | None:
        """Escalate once enough drafts were seen and acceptance collapsed."""
        if stats.drafted >= self.min_drafted and stats.acceptance_rate < self.min_acceptance:
            reason = f"acceptance {stats.acceptance_rate:.2f} < {self.min_acceptance:.2f}"
            return Decision("deep", {"acceptance": 1.0 - stats.acceptance_rate}, (reason,))
        return None
