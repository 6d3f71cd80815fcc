"""Per-request drafters built from the engine's speculation settings.

``draft="auto"`` gives every request n-gram lookup plus, when the target is
the model the shipped distilled draft was trained for (the draft file names
its target's tokenizer; any other target gets n-gram only) *and* the draft is
expected to pay for itself (`engine.speculative._payoff`: the speed-up
predicted from its held-out acceptance, its cost and the CPU row cost; the
shipped draft falls short, so auto is n-gram lookup today), that draft.
``"ngram"`` is lookup alone; any other value is the path of a draft
checkpoint, which must share the target's tokenizer (`DraftMismatchError`).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from engine._errors import EngineError, ModelLoadError
from engine.kv_cache import KVCache
from engine.loader import LoadedModel
from engine.speculative._adaptive import GammaController
from engine.speculative._draft_io import (
    DRAFT_CONFIG,
    DraftModel,
    build_draft,
    check_target,
    default_draft_path,
    draft_step_bytes,
    read_draft,
    tokenizer_fingerprint,
)
from engine.speculative._draft_model import DraftModelDrafter, load_draft
from engine.speculative._ngram import NgramDrafter
from engine.speculative._payoff import auto_keeps
from engine.speculative._state import Drafter, SpecState

__all__ = ["DrafterFactory", "ModelDrafter", "SpeculationSettings"]


def _log(level: str, event: str, **fields: Any) -> None:
    """Log through structlog only if the application imported it (the engine never does)."""
    structlog = sys.modules.get("structlog")
    if structlog is not None:
        getattr(structlog.get_logger("engine.speculative"), level)(event, **fields)


@dataclass(frozen=True)
class SpeculationSettings:
    """How the engine speculates.

    Attributes:
        enabled: False decodes plainly (``draft`` is ignored).
        draft: ``"auto"``, ``"ngram"`` or the path of a draft checkpoint.
        gamma: initial draft length per request.
        gamma_max: the most tokens a request drafts in one step.
        confidence: a draft model stops drafting below this top probability.
    """

    enabled: bool = True
    draft: str = "auto"
    gamma: int = 4
    gamma_max: int = 8
    confidence: float = 0.4

    def __post_init__(self) -> None:
        if not 1 <= self.gamma <= self.gamma_max <= 64:
            raise EngineError(
                f"need 1 <= gamma <= gamma_max <= 64, got {self.gamma}, {self.gamma_max}"
            )
        if not 0.0 <= self.confidence < 1.0:
            raise EngineError(f"confidence must be in [0, 1), got {self.confidence}")
        if not self.draft:
            raise EngineError("draft must be 'auto', 'ngram' or a path")


class ModelDrafter:
    """The `Drafter` interface over a `DraftModelDrafter` (one draft-cache slot per request).

    The target's context only grows between calls (rejected drafts never
    enter it), so each call feeds the draft the tokens confirmed since the
    last one, then proposes greedily: a deterministic proposal keeps the
    target's "sample, accept while it matches" rule lossless for sampling too.
    """

    def __init__(self, inner: DraftModelDrafter) -> None:
        """Wrap ``inner``."""
        self.inner = inner
        self.kind = inner.kind

    def draft(self, context: Sequence[int], k: int) -> list[int]:
        """Up to ``k`` tokens after ``context`` (prompt + output so far)."""
        self.inner.extend(context[self.inner.n_tokens :])
        return self.inner.propose(min(k, self.inner.max_draft))

    def close(self) -> None:
        """Give the draft-cache slot back."""
        self.inner.close()


class DrafterFactory:
    """Builds each request's `SpecState` from `SpeculationSettings`.

    Args:
        target: the engine's loaded model.
        settings: the speculation settings.
        max_slots: concurrent requests (draft-model cache slots).

    Raises:
        DraftMismatchError: a draft path whose tokenizer differs from the target's.
        ModelLoadError: a missing or corrupt draft path.
    """

    def __init__(self, target: LoadedModel, settings: SpeculationSettings, max_slots: int) -> None:
        """Load the draft model, if the settings ask for one."""
        self.settings = settings
        self._draft: DraftModel | None = None
        self._cache: KVCache | None = None
        self.auto_note: str | None = None  # why "auto" left the shipped draft out
        if settings.enabled and settings.draft != "ngram":
            self._draft = self._load(target, settings.draft)
        if self._draft is not None:
            cfg = self._draft.model.config
            seq_len = self._draft.model.cos.shape[0]
            self._cache = KVCache(cfg.n_layers, max_slots, cfg.n_kv_heads, seq_len, cfg.head_dim)

    def _load(self, target: LoadedModel, draft: str) -> DraftModel | None:
        if draft != "auto":
            return load_draft(draft, target)
        path = default_draft_path()
        if not (path / DRAFT_CONFIG).exists():
            _log("info", "speculation.no_shipped_draft", fallback="ngram")
            return None
        try:
            spec, tensors = read_draft(path)
            check_target(spec, target.config, tokenizer_fingerprint(target.tokenizer), str(path))
        except ModelLoadError as exc:  # another target, or a broken shipped file: n-gram only
            _log("info", "speculation.shipped_draft_unused", reason=str(exc), fallback="ngram")
            return None
        # judged before building: quantizing and packing a draft left out costs ~0.2 s a load
        size = draft_step_bytes(tensors, target.model)
        keep, why = auto_keeps(size, target.model, path, self.settings.gamma_max)
        if not keep:
            self.auto_note = note = f"shipped draft left out: {why}"
            _log("info", "speculation.shipped_draft_unused", reason=note, fallback="ngram")
            return None
        return build_draft(spec, tensors, target.model, name=str(path))

    @property
    def mode(self) -> str:
        """``"off"``, ``"ngram"`` or ``"ngram+<draft kind>"``, for logs and reports."""
        if not self.settings.enabled:
            return "off"
        if self._draft is None:
            return "ngram"
        return "ngram+" + ("distilled" if self._draft.kept_ids is not None else "draft")

    def new_state(self) -> SpecState | None:
        """A fresh `SpecState` for one request (None when speculation is off)."""
        s = self.settings
        if not s.enabled:
            return None
        drafters: list[Drafter] = [NgramDrafter()]
        if self._draft is not None and self._cache is not None and self._cache.free_slots:
            inner = DraftModelDrafter(
                self._draft, confidence=s.confidence, max_draft=s.gamma_max, cache=self._cache
            )
            drafters.append(ModelDrafter(inner))
        controller = GammaController(gamma=s.gamma, gamma_max=s.gamma_max)
        return SpecState(tuple(drafters), controller)

    @staticmethod
    def release(state: SpecState | None) -> None:
        """Free what a request's drafters hold (draft-model cache slots)."""
        if state is None:
            return
        for d in state.drafters:
            if isinstance(d, ModelDrafter):
                d.close()
