"""A banking-support bot: policy knowledge base, SQLite ledger tools, two tiers, PII kept local.

Routine questions are answered by the fast tier (the embedded model) grounded in
the policy documents of ``kb/``; disputes that need arithmetic or several
policy steps go to the deep tier, which only ever sees PII-redacted text. When
the deep tier is over budget, the customer gets a holding reply (``degraded``).

    python -m examples.customer_service [--script FILE] [--json FILE]
    python -m agentkit.cli chat --example customer_service
"""

from examples.customer_service._agent import (
    EVAL_DATA,
    HOLDING_REPLY,
    KB_DIR,
    build_agent,
    grounding,
    passage_keys,
)
from examples.customer_service._bank import Ledger, create_ledger
from examples.customer_service._script import SCRIPT, ScriptTurn, load_script, run_script
from examples.customer_service._tiers import (
    GroundedFastModel,
    RedactingModel,
    SupportRouter,
    needs_deep,
)

__all__ = [
    "EVAL_DATA",
    "HOLDING_REPLY",
    "KB_DIR",
    "SCRIPT",
    "GroundedFastModel",
    "Ledger",
    "RedactingModel",
    "ScriptTurn",
    "SupportRouter",
    "build_agent",
    "create_ledger",
    "grounding",
    "load_script",
    "needs_deep",
    "passage_keys",
    "run_script",
]
