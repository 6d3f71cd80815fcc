"""What a turn returns: `TurnResult` and the typed records it holds.

`TurnResult`, `Hop` and `Outcome` are also exported from `agentkit`; this
module adds the parts: the per-stage `StageTimings`, the per-tier
`TierUsage`, each model `Attempt` of a hop, and the `ErrorInfo` of a turn
that ended in ``error``.
"""

from agentkit._result import Attempt, ErrorInfo, Hop, Outcome, StageTimings, TierUsage, TurnResult

__all__ = ["Attempt", "ErrorInfo", "Hop", "Outcome", "StageTimings", "TierUsage", "TurnResult"]
