"""What the runner returns: `TurnResult` and the typed records it holds, and `Warmup`.

`TurnResult`, `Hop` and `Outcome` are also exported from `agentkit`; this
module adds the parts: the per-stage `StageTimings`, the per-tier
`TierUsage`, each model `Attempt` of a hop, and the `ErrorInfo` of a turn
that ended in ``error``; and `Warmup`, what `Runner.start` warmed and how long
each part took.
"""

from agentkit._result import Attempt, ErrorInfo, Hop, Outcome, StageTimings, TierUsage, TurnResult
from agentkit._warm import Warmup

__all__ = [
    "Attempt",
    "ErrorInfo",
    "Hop",
    "Outcome",
    "StageTimings",
    "TierUsage",
    "TurnResult",
    "Warmup",
]
