"""Per-tier wrappers and the support router of the banking bot.

- `GroundedFastModel`: the fast tier answers a policy question by quoting the
  knowledge-base sentences that answer it (`agentkit.answers.Grounding`: no
  model call, right by construction), gives no answer when no sentence is close
  enough (the answer check then escalates, or sends the holding reply), and
  generates only where quoting cannot answer:
  a message naming an account (the ledger tools) or ``extract=False``, with the
  best passage in its prompt. It declines, with no text, the disputes it cannot
  reason about (so a late deep tier ends in the holding reply, never a made-up
  number).
- `RedactingModel`: the deep tier's safety policy: every message is PII-redacted
  (`LocalSafetyFilter.redact_for_tier`) before it leaves the process.
- `SupportRouter`: disputes that need arithmetic or multi-step policy
  reasoning go deep; everything else follows the base router.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field

from agentkit import Message, Model, ModelResponse, SamplingSettings
from agentkit.answers import Grounding
from agentkit.events import FinishEvent, ModelEvent, TextDeltaEvent
from agentkit.messages import ToolCall, ToolSchema
from agentkit.models import Preloading, Warmable
from agentkit.safety import LocalSafetyFilter
from router import Decision, LayeredRouter, RouteContext, Router, StreamSignals
from tools import KnowledgeBase

__all__ = ["MIN_QUOTE_SCORE", "GroundedFastModel", "RedactingModel", "SupportRouter", "needs_deep"]

MIN_QUOTE_SCORE = 0.85
"""The quote confidence below which the fast tier does not answer a policy question
(calibrated on the answer dev set: docs/answers.md). Below it, the agent's answer
check escalates, or gives the holding reply: no answer is better than a wrong one."""

_ACCOUNT = re.compile(r"\bACC-\d{4}\b", re.IGNORECASE)
_DISPUTE = re.compile(
    r"\b(disput\w*|chargeback|charged (twice|double)|double[- ]charged|duplicate charge"
    r"|wrong amount|overcharged|refund\w*)\b",
    re.IGNORECASE,
)
_NUMERIC = re.compile(r"\d+(?:[.,]\d+)?\s*(?:EUR|€|%)|\bhow much\b|\bdifference\b", re.IGNORECASE)
_MULTI_STEP = re.compile(r"\b(and when|both|each|minus|already refunded|partial)\b", re.IGNORECASE)


def needs_deep(text: str) -> str | None:
    """Why ``text`` needs the deep tier (a dispute with amounts or several steps), else None.

    Example:
        >>> needs_deep("I was charged 480 EUR instead of 400 EUR, please refund")
        'dispute with amounts (arithmetic)'
        >>> needs_deep("What is the ATM limit?") is None
        True
    """
    if not _DISPUTE.search(text):
        return None
    if _NUMERIC.search(text):
        return "dispute with amounts (arithmetic)"
    if _MULTI_STEP.search(text):
        return "dispute with several policy steps"
    return None


@dataclass(frozen=True)
class SupportRouter:
    """Disputes needing arithmetic or multi-step policy go deep; the rest follows ``base``.

    Attributes:
        base: The general router (the layered router by default).
    """

    base: Router = field(default_factory=LayeredRouter)

    def route(self, context: RouteContext) -> Decision:
        """Deep for a dispute needing reasoning; otherwise the base router's decision."""
        why = needs_deep(context.message)
        if why is not None:
            return Decision("deep", {"dispute": 1.0}, (why,))
        return self.base.route(context)

    def should_escalate(self, context: RouteContext, stats: StreamSignals) -> Decision | None:
        """Mid-stream escalation as the base router decides."""
        return self.base.should_escalate(context, stats)


def _last_user(messages: Sequence[Message]) -> str:
    return next((m.content or "" for m in reversed(messages) if m.role == "user"), "")


class GroundedFastModel:
    """The fast tier: quotes the policy where it answers, generates only where it must.

    For a policy question the answer is the knowledge base's own sentences
    (``grounding.extract``) when their confidence reaches ``min_score``, and
    no answer below it (the agent's answer check escalates, or sends the holding
    reply): the 135M model, given the right passage, answers few routine questions
    right, while the sentences that answer are found for ~95% of them
    (docs/answers.md). A message naming an account goes to
    the inner model with the account tools (its answer comes from tool results
    and is checked before release); with ``extract=False`` every question does,
    with the best passage in its prompt.

    Args:
        inner: The fast model (usually `EngineModel`).
        kb: The policy knowledge base.
        grounding: Its sentence retrieval (default: ``Grounding(kb)``).
        declines: Messages this tier leaves to the deep tier: it answers them
            with no text, so that the loop's fallback gives the holding reply.
        extract: Quote the policy for policy questions (False: always generate).
        min_score: The extract's confidence below which the tier gives no answer.
        max_passage_chars: Characters of the best passage put into a generating prompt.
        paragraph_stop: Stop string of plain answers ("" for none): the bot
            is told to answer in one or two sentences, and a small model that
            starts a second paragraph is padding the answer, not finishing it.
    """

    def __init__(
        self,
        inner: Model,
        kb: KnowledgeBase,
        *,
        grounding: Grounding | None = None,
        declines: Callable[[str], bool] | None = None,
        extract: bool = True,
        min_score: float = MIN_QUOTE_SCORE,
        max_passage_chars: int = 600,
        paragraph_stop: str = "\n\n",
    ) -> None:
        self.inner = inner
        self.kb = kb
        self.grounding = grounding if grounding is not None else Grounding(kb)
        self.declines = declines
        self.extract = extract
        self.min_score = min_score
        self.max_passage_chars = max_passage_chars
        self.paragraph_stop = paragraph_stop

    @property
    def name(self) -> str:
        """The inner model's name."""
        return self.inner.name

    def quote(self, question: str) -> str | None:
        """The extractive answer to ``question`` ("" when unsure); None: generate.

        None for a message naming an account (the ledger tools answer it) and
        when extraction is off.
        """
        if not self.extract or _ACCOUNT.search(question):
            return None
        found = self.grounding.extract(question)
        return found.text if found is not None and found.score >= self.min_score else ""

    def _passage(self, question: str) -> Message | None:
        """The best policy passage for ``question`` as a system message, or None.

        None for a message naming an account: the account tools answer it, and
        a policy passage would only add prefill time to a turn that already
        makes two or three model calls.
        """
        if _ACCOUNT.search(question):
            return None
        hits = self.grounding.search(question, k=1)
        if not hits:
            return None
        hit = hits[0]
        passage = f"Policy ({hit.source}, {hit.heading or ''}): {hit.text}"
        return Message.system(passage[: self.max_passage_chars])

    def _shape(
        self, messages: Sequence[Message], tools: Sequence[ToolSchema]
    ) -> tuple[list[Message], list[ToolSchema]]:
        """Messages with a policy passage before every user message, and the tools to show.

        Every user message gets its passage (the search is deterministic), not
        only the latest: the prompt of turn n then begins with turn n-1's whole
        prompt and answer, which the engine's prefix cache holds, so a turn
        prefills only its own passage and question instead of the conversation.
        The passage sits right before the question, where a small model copies from.
        """
        shown: list[Message] = []
        for message in messages:
            passage = self._passage(message.content or "") if message.role == "user" else None
            if passage is not None:
                shown.append(passage)
            shown.append(message)
        question = _last_user(messages)
        wanted = {"account_lookup", "refund"} if _ACCOUNT.search(question) else set()
        kept = [t for t in tools if t.get("function", {}).get("name") in wanted]
        return shown, kept

    def _settings(
        self, settings: SamplingSettings | None, tools: Sequence[ToolSchema]
    ) -> SamplingSettings | None:
        """Plain answers end at their first paragraph (tool calls and JSON are left alone)."""
        if tools or not self.paragraph_stop or (settings and settings.json_schema):
            return settings
        base = settings or SamplingSettings()
        if self.paragraph_stop in base.stop:
            return base
        return base.model_copy(update={"stop": (*base.stop, self.paragraph_stop)})

    def _direct(self, messages: Sequence[Message]) -> str | None:
        """The answer given without the model: "" to decline, a quote, or None (generate).

        Only the first call of a turn quotes: after a tool round the model answers.
        """
        question = _last_user(messages)
        if self.declines is not None and self.declines(question):
            return ""
        if messages and messages[-1].role != "user":
            return None
        return self.quote(question)

    async def stream(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSchema] = (),
        settings: SamplingSettings | None = None,
        deadline: float | None = None,
    ) -> AsyncIterator[ModelEvent]:
        """Stream the quote, or the inner model's answer over the grounded prompt."""
        direct = self._direct(messages)
        if direct is not None:
            if direct:
                yield TextDeltaEvent(text=direct)
            yield FinishEvent(reason="stop")
            return
        shown, kept = self._shape(messages, tools)
        async for event in self.inner.stream(
            shown, tools=kept, settings=self._settings(settings, kept), deadline=deadline
        ):
            yield event

    async def complete(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSchema] = (),
        settings: SamplingSettings | None = None,
        deadline: float | None = None,
    ) -> ModelResponse:
        """The quote, or one whole message from the inner model over the grounded prompt."""
        direct = self._direct(messages)
        if direct is not None:
            return ModelResponse(message=Message.assistant(direct), model=self.name)
        shown, kept = self._shape(messages, tools)
        return await self.inner.complete(
            shown, tools=kept, settings=self._settings(settings, kept), deadline=deadline
        )

    async def ready(self) -> None:
        """Wait for the inner model's background load (`agentkit.models.Preloading`)."""
        if isinstance(self.inner, Preloading):
            await self.inner.ready()

    async def warm(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSchema] = (),
        settings: SamplingSettings | None = None,
    ) -> None:
        """Prime the inner model with the grounded prompt a turn would send (`Runner.start`)."""
        if isinstance(self.inner, Warmable):
            shown, kept = self._shape(messages, tools)
            await self.inner.warm(shown, tools=kept, settings=self._settings(settings, kept))


class RedactingModel:
    """A tier whose every request is PII-redacted before it leaves (the deep tier's policy).

    Message text, tool-call arguments and tool results all pass through
    ``safety.redact_for_tier(text, tier)``, which redacts only for the tiers in
    the filter's ``policy.pii_redact_tiers`` (by default: deep).

    Args:
        inner: The remote model.
        safety: The local filter whose policy says what to redact per tier.
        tier: The tier this model serves.
    """

    def __init__(
        self, inner: Model, safety: LocalSafetyFilter | None = None, tier: str = "deep"
    ) -> None:
        self.inner = inner
        self.safety = safety or LocalSafetyFilter()
        self.tier = tier

    @property
    def name(self) -> str:
        """The inner model's name."""
        return self.inner.name

    def redact(self, messages: Sequence[Message]) -> list[Message]:
        """``messages`` with PII replaced by ``[KIND]`` placeholders."""
        out = []
        for m in messages:
            update: dict[str, object] = {}
            if m.content:
                update["content"] = self.safety.redact_for_tier(m.content, self.tier)
            if m.tool_calls:
                update["tool_calls"] = tuple(self._call(c) for c in m.tool_calls)
            out.append(m.model_copy(update=update))
        return out

    def _call(self, call: ToolCall) -> ToolCall:
        args = self.safety.redact_for_tier(call.function.arguments, self.tier)
        return call.model_copy(
            update={"function": call.function.model_copy(update={"arguments": args})}
        )

    def stream(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSchema] = (),
        settings: SamplingSettings | None = None,
        deadline: float | None = None,
    ) -> AsyncIterator[ModelEvent]:
        """Stream from the inner model with redacted messages."""
        return self.inner.stream(
            self.redact(messages), tools=tools, settings=settings, deadline=deadline
        )

    async def complete(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSchema] = (),
        settings: SamplingSettings | None = None,
        deadline: float | None = None,
    ) -> ModelResponse:
        """One whole message from the inner model, with redacted messages."""
        return await self.inner.complete(
            self.redact(messages), tools=tools, settings=settings, deadline=deadline
        )

    async def ready(self) -> None:
        """Wait for the inner model's background load (`agentkit.models.Preloading`)."""
        if isinstance(self.inner, Preloading):
            await self.inner.ready()

    async def warm(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSchema] = (),
        settings: SamplingSettings | None = None,
    ) -> None:
        """Prime the inner model with redacted messages (`Runner.start`)."""
        if isinstance(self.inner, Warmable):
            await self.inner.warm(self.redact(messages), tools=tools, settings=settings)
