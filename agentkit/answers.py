"""Grounded, checked answers: quote the knowledge base where it answers, check before release.

`Grounding` finds the knowledge-base sentences that answer a question (hybrid
BM25 + MiniLM retrieval) and returns them as an `Extract`: a fast answer that
is right by construction. `AnswerCheck` (``Agent(answer_check=...)``) checks a
tier's answers before release: numbers, names and negations must be supported
by the grounding, the tool results or the conversation; `CheckReport`
(``TurnResult.check``) says what it found and did. docs/answers.md says when
an agent quotes and when it generates.
"""

from agentkit._answer_check import AnswerCheck, Extractor, GroundingSource
from agentkit._check_types import CheckAction, CheckedClaim, CheckReport
from agentkit._claims import ClaimKind
from agentkit._grounding import EmbedFn, Extract, Grounding, default_embedder

__all__ = [
    "AnswerCheck",
    "CheckAction",
    "CheckReport",
    "CheckedClaim",
    "ClaimKind",
    "EmbedFn",
    "Extract",
    "Extractor",
    "Grounding",
    "GroundingSource",
    "default_embedder",
]
