"""Routing policy: decide whether a turn runs on the fast tier or goes deep.

Importing `router` never loads torch.
"""

from router._rules import RuleRouter
from router._types import Decision, RouteContext, Router, StreamSignals, TierName

__all__ = ["Decision", "RouteContext", "Router", "RuleRouter", "StreamSignals", "TierName"]
