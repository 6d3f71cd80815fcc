"""`RemoteModerationFilter`: a moderation endpoint or a guard model over HTTP.

Two wire formats:

* ``moderation``: ``POST {base_url}/moderations`` with ``{"input": text}``, the
  OpenAI moderation API shape (``results[0].flagged / category_scores``);
* ``guard``: ``POST {base_url}/chat/completions`` to a guard model such as Llama
  Guard, whose reply is ``safe`` or ``unsafe`` followed by hazard codes (S1...).

A timeout or an error is an outcome, not an exception: ``fail_open`` allows the
text (availability first), otherwise the verdict refuses it (safety first).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from agentkit._safety_types import SafetyAction, SafetyStage, SafetyVerdict, StreamGuard
from agentkit.safety._local import LocalSafetyFilter
from agentkit.safety._pii import find_pii, redact
from agentkit.safety._policy import CATEGORIES, SafetyPolicy, strongest

__all__ = ["RemoteModerationFilter"]

# Llama Guard 3 hazard codes mapped onto the OpenAI moderation taxonomy.
_GUARD_CODES = {
    "S1": "violence",
    "S2": "illicit",
    "S3": "sexual",
    "S4": "sexual/minors",
    "S9": "violence",
    "S10": "hate",
    "S11": "self-harm",
    "S12": "sexual",
}


@dataclass
class RemoteModerationFilter:
    """A `SafetyFilter` backed by a remote endpoint, with a timeout and fail policy.

    PII is still found locally (it is cheap and must not be sent anywhere to be
    found). Streaming guards use the local classifier, because a guard must
    answer synchronously within a token's time; the remote check runs on
    complete texts.

    Attributes:
        base_url: The API root, e.g. ``http://localhost:8000/v1``.
        mode: ``moderation`` or ``guard`` (see the module docstring).
        model: Model name sent with the request (optional for ``moderation``).
        api_key: Bearer token, if the endpoint needs one.
        timeout_s: Whole-request timeout.
        fail_open: On timeout or error: allow (True) or refuse (False).
        policy: Category actions and PII stages, as for the local filter.
    """

    base_url: str
    mode: Literal["moderation", "guard"] = "moderation"
    model: str | None = None
    api_key: str | None = None
    timeout_s: float = 2.0
    fail_open: bool = False
    policy: SafetyPolicy = field(default_factory=SafetyPolicy)

    def __post_init__(self) -> None:
        if self.mode not in ("moderation", "guard"):
            raise ValueError("mode must be 'moderation' or 'guard'")
        if self.timeout_s <= 0:
            raise ValueError("timeout_s must be positive")

    async def check(self, text: str, *, stage: SafetyStage) -> SafetyVerdict:
        """Ask the endpoint about ``text``; never raises."""
        start = time.perf_counter()
        try:
            categories = await self._remote_scores(text)
        except (httpx.HTTPError, ValueError, KeyError, TypeError, IndexError) as exc:
            action: SafetyAction = "allow" if self.fail_open else "refuse"
            mode = "fail-open" if self.fail_open else "fail-closed"
            verdict = SafetyVerdict(
                action=action,
                flagged=not self.fail_open,
                reasons=(f"moderation unavailable ({type(exc).__name__}); {mode}",),
            )
        else:
            verdict = self._verdict(text, stage, categories)
        return verdict.model_copy(update={"latency_ms": (time.perf_counter() - start) * 1e3})

    def stream_guard(self) -> StreamGuard:
        """A local hold-back guard (see the class docstring)."""
        return LocalSafetyFilter(self.policy).stream_guard()

    async def _remote_scores(self, text: str) -> dict[str, float]:
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        async with httpx.AsyncClient(
            base_url=self.base_url.rstrip("/"), timeout=self.timeout_s, headers=headers
        ) as client:
            if self.mode == "moderation":
                body: dict[str, Any] = {"input": text}
                if self.model:
                    body["model"] = self.model
                resp = await client.post("/moderations", json=body)
                resp.raise_for_status()
                result = resp.json()["results"][0]
                scores = {str(k): float(v) for k, v in result.get("category_scores", {}).items()}
                if result.get("flagged") and not scores:
                    scores = {str(k): 1.0 for k, v in result.get("categories", {}).items() if v}
                return scores
            resp = await client.post(
                "/chat/completions",
                json={
                    "model": self.model or "llama-guard",
                    "temperature": 0,
                    "messages": [{"role": "user", "content": text}],
                },
            )
            resp.raise_for_status()
            reply = str(resp.json()["choices"][0]["message"]["content"]).strip().lower()
            if reply.startswith("safe"):
                return {}
            codes = re.findall(r"s\d+", reply)
            return {_GUARD_CODES.get(c.upper(), "illicit"): 1.0 for c in codes} or {"illicit": 1.0}

    def _verdict(self, text: str, stage: SafetyStage, scores: dict[str, float]) -> SafetyVerdict:
        cats = {c: float(scores.get(c, scores.get(c.replace("/", "-"), 0.0))) for c in CATEGORIES}
        named = [c for c in CATEGORIES if cats[c] >= self.policy.category_threshold(c)]
        actions = [self.policy.action_for(c) for c in named]
        reasons = [f"{c} ({cats[c]:.2f})" for c in named]
        pii = find_pii(text)
        redacted = None
        if pii and stage in self.policy.pii_redact_stages:
            actions.append("redact")
            redacted = redact(text, pii)
            reasons.append("pii: " + ", ".join(sorted({s.kind for s in pii})))
        return SafetyVerdict(
            action=strongest(actions),
            categories=cats,
            flagged=bool(named),
            pii=pii,
            reasons=tuple(reasons),
            redacted_text=redacted,
        )
