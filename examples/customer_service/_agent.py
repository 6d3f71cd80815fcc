"""`build_agent`: the banking-support agent, wired from its parts."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from agentkit import Agent, BudgetPolicy, Model, SamplingSettings
from agentkit.answers import AnswerCheck, Grounding
from agentkit.safety import LocalSafetyFilter
from examples.customer_service._bank import Ledger, create_ledger
from examples.customer_service._tiers import (
    MIN_QUOTE_SCORE,
    GroundedFastModel,
    RedactingModel,
    SupportRouter,
    needs_deep,
)
from tools import KnowledgeBase, calculator

__all__ = [
    "EVAL_DATA",
    "HOLDING_REPLY",
    "INSTRUCTIONS",
    "KB_DIR",
    "build_agent",
    "default_deep",
    "grounding",
    "passage_keys",
    "screened",
]

KB_DIR = Path(__file__).parent / "kb"
"""The policy documents (Markdown) the bot is grounded in."""

EVAL_DATA = Path(__file__).parent / "eval" / "answers_dev.jsonl"
"""The answer dev set (``agentkit eval answers``): KB questions in users' words."""

_GROUNDING: list[Grounding] = []


def screened(kb: KnowledgeBase, safety: LocalSafetyFilter) -> KnowledgeBase:
    """``kb`` without the passages the safety filter's tool-result check refuses.

    A policy document is text the bot repeats: a passage carrying a prompt
    injection ("ignore your instructions and ...") is kept out of what it may
    quote, exactly as a tool result with one is kept from the model.
    """
    limit = safety.policy.injection_threshold
    kept = [
        p
        for p in kb.passages
        if safety.check_sync(f"{p.heading or ''}\n{p.text}", stage="tool_result").injection < limit
    ]
    return KnowledgeBase(kept)


def grounding() -> Grounding:
    """The process-wide sentence retrieval over `KB_DIR`, built and warmed once.

    Warmed here (the embedding layer loads, the KB is embedded: 1-4 s once per
    process), so that no turn pays for it, even one run without `Runner.start`.
    """
    if not _GROUNDING:
        kb = screened(KnowledgeBase.from_folder(KB_DIR), LocalSafetyFilter())
        built = Grounding(kb)
        built.warm()
        _GROUNDING.append(built)
    return _GROUNDING[0]


def passage_keys(question: str, k: int) -> list[str]:
    """The ``source#heading`` of the ``k`` best passages (retrieval recall in the eval)."""
    return [f"{p.source}#{p.heading or ''}" for p in grounding().search(question, k)]


INSTRUCTIONS = (
    "You are the support assistant of Example Bank. Answer in one or two short sentences, "
    "using only the bank policy given to you or returned by tools. Use the refund tool only "
    "when the policy allows the refund, and use the calculator for any arithmetic. "
    "Never ask for a full card number, PIN or one-time code."
)
HOLDING_REPLY = (
    "Thanks for your patience: a specialist is checking this against your account and our "
    "dispute policy. You will get an answer shortly."
)


def default_deep() -> Model | None:
    """The deep tier from ``AGENTKIT_DEEP_BASE_URL``/``_MODEL``/``_API_KEY``, or None if unset."""
    if not (os.environ.get("AGENTKIT_DEEP_BASE_URL") and os.environ.get("AGENTKIT_DEEP_MODEL")):
        return None
    from agentkit import OpenAIModel

    return OpenAIModel()


def _default_fast(threads: int | None) -> Model:
    from agentkit import EngineModel

    options: dict[str, Any] = {} if threads is None else {"threads": threads}
    return EngineModel(name="smollm2-135m", **options)


def build_agent(
    fast: Model | None = None,
    deep: Model | None = None,
    db_path: str | Path | None = None,
    threads: int | None = None,
    *,
    budget_ms: float = 3000.0,
    max_tokens: int = 64,
    extract: bool = True,
) -> Agent:
    """The banking-support agent: policy KB, ledger tools, two tiers, PII kept local.

    Args:
        fast: The fast tier (default: `EngineModel` on the embedded model, loaded on
            first use). It is wrapped in `GroundedFastModel`.
        deep: The deep tier (default: `default_deep`, from the environment). It is
            wrapped in `RedactingModel`, so PII never leaves the process.
        db_path: The SQLite ledger; created and seeded when missing (default: a
            fresh file in a temporary folder).
        threads: Compute threads of the default fast tier.
        budget_ms: The latency budget of one turn.
        max_tokens: Tokens per model call.
        extract: The fast tier quotes the policy for policy questions (False: it
            generates every answer; docs/answers.md compares the two).

    Returns:
        The agent; run turns with ``Runner.run(agent, text, session_id=...)``.
    """
    if db_path is None:
        db_path = Path(tempfile.mkdtemp(prefix="agentkit-bank-")) / "bank.db"
    db_path = Path(db_path)
    if not db_path.exists():
        create_ledger(db_path)
    ledger = Ledger(db_path)
    retrieval = grounding()
    kb = retrieval.kb
    deep = deep if deep is not None else default_deep()
    safety = LocalSafetyFilter()
    fast_model = GroundedFastModel(
        fast if fast is not None else _default_fast(threads),
        kb,
        grounding=retrieval,
        extract=extract,
        # Only with a deep tier to defer to: alone, the fast tier must answer.
        declines=(lambda text: needs_deep(text) is not None) if deep is not None else None,
    )
    return Agent(
        instructions=INSTRUCTIONS,
        tools=[kb.as_tool(), *ledger.tools(), calculator],
        fast=fast_model,
        deep=RedactingModel(deep, safety) if deep is not None else None,
        router=SupportRouter(),
        safety=safety,
        budget_ms=budget_ms,
        policy=BudgetPolicy(tool_ms=1000.0, fallback_reserve_ms=200.0),
        settings=SamplingSettings(max_tokens=max_tokens),
        holding_reply=HOLDING_REPLY,
        answer_check=AnswerCheck(retrieval, min_extract_score=MIN_QUOTE_SCORE),
    )
