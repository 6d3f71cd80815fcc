"""`AnswerCheck`: a fast answer's claims must be supported before the user sees them.

Numbers with their units, product, menu and proper names, and the polarity of
sentences that restate a source (`agentkit._claims`) are looked up in the
grounding: the passages the agent's `GroundingSource` gives for the question,
the tool results and the conversation (instructions included). The check is
lexical, with numbers normalised ("15 000" = "15,000"); it costs well under a
millisecond per sentence.

While a checked tier streams, `CheckStream` holds its text back a sentence at a
time: a sentence is released (on to the output guard) only once its claims are
supported, so nothing unchecked reaches the user. After the first unsupported
sentence it holds everything; `agentkit._verify` then escalates, quotes the
grounding, or gives the holding reply, and reports it in `CheckReport`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from agentkit._check_types import CheckAction, CheckedClaim, CheckReport
from agentkit._claims import ClaimKind, check_claims, mentions_any
from agentkit._errors import ConfigError
from agentkit._grounding import Extract
from agentkit._result import Tier

__all__ = [
    "AnswerCheck",
    "CheckAction",
    "CheckReport",
    "CheckStream",
    "CheckedClaim",
    "ClaimKind",
    "Extractor",
    "GroundingSource",
]

_ALL_KINDS: frozenset[ClaimKind] = frozenset({"number", "name", "negation"})
# A sentence ends at . ! ? and the spaces after it (not "0.5"), or at a line break.
_SENTENCE_END = re.compile(r"[.!?]\s+|\n")


@runtime_checkable
class GroundingSource(Protocol):
    """Where an agent's answers come from: the passages that ground a question."""

    def passages(self, question: str) -> Sequence[str]:
        """Texts that may support an answer to ``question`` (best first)."""
        ...


@runtime_checkable
class Extractor(Protocol):
    """A grounding that can also answer by quoting itself (`agentkit.answers.Grounding`)."""

    def extract(self, question: str) -> Extract | None:
        """The sentences that answer ``question``, with a confidence; None if none."""
        ...


@dataclass(frozen=True)
class AnswerCheck:
    """Check a tier's answers against their grounding before release (`Agent.answer_check`).

    Example:
        >>> from agentkit import Agent, Runner, ScriptedModel
        >>> from agentkit.answers import Grounding
        >>> from tools import KnowledgeBase, Passage
        >>> limits = Passage(source="cards.md", text="The daily ATM limit is 500 EUR.")
        >>> grounding = Grounding(KnowledgeBase([limits]), embed=None)
        >>> agent = Agent(
        ...     fast=ScriptedModel(["The ATM limit is 800 EUR."]),
        ...     answer_check=AnswerCheck(grounding),
        ... )
        >>> result = Runner.run_sync(agent, "What is the ATM limit?")
        >>> result.text, result.outcome, result.check.action, result.check.reason
        ('The daily ATM limit is 500 EUR.', 'ok', 'extracted', 'unsupported claim: 800 EUR')

    Attributes:
        grounding: Gives the passages of a question (a `Grounding`); None: only
            tool results and the conversation ground the answer. A grounding that
            can ``extract`` also provides the quote used when the check fails.
        tiers: The tiers whose answers are checked (the fast tier by default: the
            deep tier is trusted to know more than the passages say).
        kinds: The kinds of claims checked.
        escalate: On an unsupported answer, continue on the deep tier when there
            is one and time for it.
        min_escalate_ms: Time the deep tier needs at least; with less left, the
            check quotes the grounding or holds the answer instead.
        extract: On an unsupported or empty answer that was routed to this tier,
            release the grounding's quote instead (never on a fallback: a turn
            that needed the deep tier gets the holding reply).
        min_extract_score: The quote's confidence it needs to be released.
        require_tool_facts: In a turn that called tools, the answer must state at
            least one number or name a tool result holds; such an answer is held
            whole until that is known ("The account is not available for refunds."
            after a lookup that returned the account says nothing it returned).
    """

    grounding: GroundingSource | None = None
    tiers: tuple[Tier, ...] = ("fast",)
    kinds: frozenset[ClaimKind] = _ALL_KINDS
    escalate: bool = True
    min_escalate_ms: float = 300.0
    extract: bool = True
    min_extract_score: float = 0.0
    require_tool_facts: bool = True

    def __post_init__(self) -> None:
        if not set(self.tiers) <= {"fast", "deep"}:
            raise ConfigError("answer_check.tiers", f"unknown tiers in {self.tiers!r}")
        if not set(self.kinds) <= _ALL_KINDS:
            raise ConfigError("answer_check.kinds", f"unknown kinds in {set(self.kinds)!r}")
        if self.grounding is not None and not isinstance(self.grounding, GroundingSource):
            raise ConfigError("answer_check.grounding", "needs a passages(question) method")
        if not self.min_escalate_ms >= 0:
            raise ConfigError("answer_check.min_escalate_ms", "must be >= 0")

    def claims(self, text: str, sources: Sequence[str]) -> list[CheckedClaim]:
        """The claims of ``text`` of the checked kinds, each marked supported or not."""
        return [
            CheckedClaim(kind=c.kind, text=c.text, supported=c.supported)
            for c in check_claims(text, sources)
            if c.kind in self.kinds
        ]

    def quote(self, question: str) -> Extract | None:
        """The grounding's extractive answer to ``question``, if it has one good enough."""
        if not self.extract or not isinstance(self.grounding, Extractor):
            return None
        found = self.grounding.extract(question)
        return found if found is not None and found.score >= self.min_extract_score else None


Release = Callable[[str, Tier], bool]


@dataclass
class CheckStream:
    """One turn's check: holds a checked tier's text back a sentence at a time.

    Attributes:
        check: The agent's configuration.
        question: The user's message (what the grounding is asked for).
        sources: Returns the texts that ground the answer now (the conversation
            grows with tool results).
    """

    check: AnswerCheck
    question: str
    sources: Callable[[], list[str]]
    tool_results: Callable[[], list[str]] = list
    pending: str = ""
    shown: str = ""
    tier: Tier | None = None
    checked: list[CheckedClaim] = field(default_factory=list)
    elapsed_ms: float = 0.0
    source_count: int = 0
    report: CheckReport | None = None
    problem: str = ""
    """Why the whole answer failed when no single claim did (it ignores the tools)."""

    @property
    def failed(self) -> list[CheckedClaim]:
        """The unsupported claims found so far."""
        return [c for c in self.checked if not c.supported]

    def watches(self, tier: Tier) -> bool:
        """Whether ``tier``'s text is checked."""
        return tier in self.check.tiers

    def _supported(self, text: str) -> bool:
        start = time.perf_counter()
        sources = self.sources()
        self.source_count = len(sources)
        claims = self.check.claims(text, sources)
        self.checked.extend(claims)
        self.elapsed_ms += (time.perf_counter() - start) * 1000.0
        return all(c.supported for c in claims)

    def feed(self, text: str, tier: Tier, release: Release) -> bool:
        """Hold ``text``; release each complete sentence once supported. False: refused."""
        self.tier = tier
        self.pending += text
        if self.failed or self._whole():
            return True  # after an unsupported sentence, nothing more goes out
        ends = [m.end() for m in _SENTENCE_END.finditer(self.pending)]
        if not ends:
            return True
        done, self.pending = self.pending[: ends[-1]], self.pending[ends[-1] :]
        if not self._supported(done):
            self.pending = done + self.pending
            return True
        self.shown += done
        return release(done, tier)

    def _whole(self) -> bool:
        """Whether the answer is held whole: it must use the turn's tool results."""
        return self.check.require_tool_facts and bool(self.tool_results())

    def _uses_tools(self, text: str) -> bool:
        return mentions_any(text, self.tool_results())

    def finish(self, release: Release) -> bool:
        """Check the held tail; release it when supported. Whether the answer passed."""
        tail, self.pending = self.pending, ""
        if self.failed:
            return False
        if tail.strip() and not self._supported(tail):
            return False
        if tail.strip() and self._whole() and not self._uses_tools(self.shown + tail):
            self.problem = "answer states nothing the tools returned"
            return False
        if tail and self.tier is not None:
            self.shown += tail
            release(tail, self.tier)
        return True

    def handover(self) -> str:
        """The checked text the user has seen; what is still held is dropped (never shown)."""
        self.pending = ""
        return self.shown
