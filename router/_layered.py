"""`LayeredRouter`: structural features, a hashed linear model, optional embeddings,
and mid-stream signals, cheapest first."""

from __future__ import annotations

import functools
import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import structlog

from router._features import FEATURE_NAMES
from router._linear import LinearModel
from router._normalize import cap_text, normalize_text
from router._policy import REASONS, RouterPolicy
from router._textcache import cached_features
from router._types import Decision, RouteContext, StreamSignals

__all__ = ["LayeredRouter", "bundled_model_path", "load_model"]

_log = structlog.get_logger("router")
_MODELS: dict[str, LinearModel | None] = {}
_MODELS_LOCK = threading.Lock()
_MISSING = object()
_CODE_SHIFT = 0.982  # used as a threshold: moves a score by -4 in logit space
_F = {name: i for i, name in enumerate(FEATURE_NAMES)}
_LABELS = {
    "math": "arithmetic or quantitative reasoning",
    "logic": "multi-step logical deduction",
    "flagged": "flagged by the safety filter",
    "code": "code",
    "long_context": "long context",
    "depth": "explicit request for careful reasoning",
}


@functools.cache
def bundled_model_path() -> Path:
    """The model file shipped inside the package."""
    return Path(str(resources.files("router") / "data" / "router_model.npz"))


def load_model(path: str | Path | None = None) -> LinearModel | None:
    """Load (once per path) a trained model; None, with a warning, if unusable."""
    key = str(path) if path else ""
    hit = _MODELS.get(key, _MISSING)
    if hit is not _MISSING:
        return hit  # type: ignore[return-value]
    with _MODELS_LOCK:
        if key not in _MODELS:
            key_path = key or str(bundled_model_path())
            try:
                _MODELS[key] = LinearModel.load(key_path)
            except Exception as exc:  # any unreadable file degrades to layer 1, never raises
                _log.warning("router_model_unavailable", path=key_path, error=repr(exc))
                _MODELS[key] = None
        return _MODELS[key]


def _calibrate(p: float, threshold: float) -> float:
    """Shift a probability in logit space so the fitted threshold lands on 0.5."""
    p = min(max(p, 1e-6), 1 - 1e-6)
    t = min(max(threshold, 1e-6), 1 - 1e-6)
    z = math.log(p / (1 - p)) - math.log(t / (1 - t))
    return 1.0 / (1.0 + math.exp(-z))


def _code_shaped(dense: np.ndarray) -> bool:
    """Code syntax on several lines, one of them indented: the text *is* code."""
    return bool(dense[_F["code"]] >= 0.6 and dense[_F["code_lines"]] >= 0.25)


def _structural_scores(d: np.ndarray) -> dict[str, float]:
    """Layer-1-only scores, used when no trained model is available."""
    math_s = max(d[_F["operators"]], d[_F["equation"]], d[_F["numbers_x_question"]] * 0.8)
    logic_s = min(
        1.0,
        0.5 * d[_F["conditionals"]]
        + 0.4 * d[_F["quantifiers"]]
        + 0.5 * d[_F["conclusion"]]
        + 0.3 * d[_F["puzzle"]],
    )
    return {"math": float(math_s), "logic": float(logic_s), "code": float(d[_F["code"]])}


@dataclass
class LayeredRouter:
    """The default router: layered scoring under a configurable `RouterPolicy`.

    ``route`` costs tens of microseconds with layers 1-2 and never raises: any
    internal failure yields a decision by policy (deep on model error if the
    policy says so) with the failure named in the reasons.

    Attributes:
        policy: Thresholds, forced routes and the cost/latency preference.
    """

    policy: RouterPolicy = field(default_factory=RouterPolicy)

    def __post_init__(self) -> None:
        self._embedder: object | None = None

    def scores(self, context: RouteContext) -> dict[str, float]:
        """Calibrated score in [0, 1] per reason (0.5 = the fitted threshold)."""
        text = normalize_text(context.message)
        around = sum(len(t) for t in (*context.history, *context.tool_results))
        feats = cached_features(cap_text(text))  # layer 1 of this tree reads head + tail
        model = load_model(self.policy.model_path)
        if model is None:
            out = _structural_scores(feats.dense)
        else:
            probs = model.predict(feats)
            out = {h: _calibrate(probs[h], model.threshold(h)) for h in ("math", "logic", "code")}
        if self.policy.use_embeddings:
            out = self._blend_embeddings(text, out)
        if _code_shaped(feats.dense):
            # Docstrings with examples read like word problems; a completion is routine.
            out["math"] = _calibrate(out["math"], _CODE_SHIFT)
            out["logic"] = _calibrate(out["logic"], _CODE_SHIFT)
        flagged = 1.0 if context.flagged else max(context.safety_scores.values(), default=0.0)
        total = len(text) + around
        out["flagged"] = float(min(1.0, max(0.0, flagged)))
        out["long_context"] = total / (total + self.policy.long_context_chars)
        out["depth"] = float(feats.dense[_F["depth"]])
        return {r: round(out[r], 4) for r in REASONS}

    def route(self, context: RouteContext) -> Decision:
        """Pick the tier: deep when any reason crosses its policy threshold."""
        try:
            scores = self.scores(context)
        except Exception as exc:  # never raise out of route(): fall back by policy
            _log.warning("route_failed", error=repr(exc))
            return Decision(
                "deep" if self.policy.on_model_error == "deep" else "fast",
                {},
                (f"router error ({type(exc).__name__}); default by policy",),
            )
        if load_model(self.policy.model_path) is None and self.policy.on_model_error == "deep":
            return Decision("deep", scores, ("router model unavailable; deep by policy",))
        hits = sorted(
            (r for r in REASONS if self.policy.escalates(r, scores[r])),
            key=lambda r: scores[r],
            reverse=True,
        )
        if hits:
            reasons = tuple(f"{_LABELS[r]} ({scores[r]:.2f})" for r in hits)
            return Decision("deep", scores, reasons)
        top = max(REASONS, key=lambda r: scores[r])
        return Decision("fast", scores, (f"routine (highest: {top} {scores[top]:.2f})",))

    def should_escalate(self, context: RouteContext, stats: StreamSignals) -> Decision | None:
        """Escalate mid-stream when speculative acceptance or token confidence collapses."""
        p = self.policy
        if stats.drafted >= p.min_drafted and stats.acceptance_rate < p.min_acceptance:
            drop = (p.min_acceptance - stats.acceptance_rate) / max(p.min_acceptance, 1e-6)
            reason = f"draft acceptance {stats.acceptance_rate:.2f} < {p.min_acceptance:.2f}"
            return Decision("deep", {"acceptance": round(min(1.0, 0.5 + drop), 4)}, (reason,))
        lp = stats.mean_logprob
        if lp is not None and stats.tokens >= p.min_tokens and lp < p.min_mean_logprob:
            reason = f"mean token logprob {lp:.2f} < {p.min_mean_logprob:.2f}"
            return Decision("deep", {"confidence": round(min(1.0, math.exp(lp)), 4)}, (reason,))
        return None

    def _blend_embeddings(self, text: str, out: Mapping[str, float]) -> dict[str, float]:
        from router._embed import EmbeddingLayer

        if not isinstance(self._embedder, EmbeddingLayer):
            self._embedder = EmbeddingLayer.load()
        extra = self._embedder.scores(text)
        return {k: (v + extra[k]) / 2.0 if k in extra else v for k, v in out.items()}
