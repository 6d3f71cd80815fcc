"""The safety step: moderation categories, PII, prompt injection and stream guards.

`LocalSafetyFilter` is the built-in classifier (in-process, well under a
millisecond); `RemoteModerationFilter` adapts a moderation endpoint or a guard
model served over the OpenAI-compatible API. Both implement
`agentkit.SafetyFilter` and act by a `SafetyPolicy`. A filter's stream check is a
`StreamGuard` that answers each chunk with a `GuardStep`; PII is found as
`PIISpan` s.
"""

from agentkit._safety_types import GuardStep, PIISpan, StreamGuard
from agentkit.safety._guard import HoldbackGuard, HoldbackStats
from agentkit.safety._local import LocalSafetyFilter
from agentkit.safety._pii import find_pii, iban_valid, luhn_valid, redact
from agentkit.safety._policy import CATEGORIES, SafetyPolicy
from agentkit.safety._remote import RemoteModerationFilter

__all__ = [
    "CATEGORIES",
    "GuardStep",
    "HoldbackGuard",
    "HoldbackStats",
    "LocalSafetyFilter",
    "PIISpan",
    "RemoteModerationFilter",
    "SafetyPolicy",
    "StreamGuard",
    "find_pii",
    "iban_valid",
    "luhn_valid",
    "redact",
]
