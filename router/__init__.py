"""Routing policy: decide whether a turn runs on the fast tier or goes deep.

`LayeredRouter` scores a turn with structural features and a small hashed
n-gram model (optionally MiniLM embeddings), under a `RouterPolicy`;
`RuleRouter` is a transparent keyword router and test double.

Importing `router` never loads torch. Errors: `RouterError` is the root (the tree
is drawn in ``router/_errors.py``).
"""

from router._errors import RouterConfigError, RouterError
from router._layered import LayeredRouter
from router._normalize import normalize_text
from router._policy import REASONS, RouterPolicy
from router._rules import RuleRouter
from router._types import Decision, RouteContext, Router, StreamSignals, TierName

__all__ = [
    "REASONS",
    "Decision",
    "LayeredRouter",
    "RouteContext",
    "Router",
    "RouterConfigError",
    "RouterError",
    "RouterPolicy",
    "RuleRouter",
    "StreamSignals",
    "TierName",
    "normalize_text",
]
