"""Drafting with a small model: a distilled draft or any checkpoint sharing the target's tokenizer.

`DraftModelDrafter` owns one KV-cache slot of the draft model per request.
``extend`` feeds the tokens the target confirmed; ``propose`` decodes up to
``k`` tokens greedily and stops early when the draft is unsure. A
deterministic proposal keeps the target's "sample, accept while it matches"
verification (`engine._sequence.verify`) lossless for sampled requests too.
Drafted tokens stay in the draft's cache: when the next ``extend`` starts
with them (the accepted prefix), their entries are reused, and the rest is
rolled back, so a verification step costs the draft one forward of the bonus
token, not a re-prefill.
"""

from __future__ import annotations

import pathlib
from collections.abc import Sequence

import torch

from engine._errors import ContextOverflowError, EngineConfigError, ModelLoadError
from engine.kv_cache import KVCache
from engine.loader import LoadedModel, load_model
from engine.speculative._draft_io import (
    DRAFT_CONFIG,
    DraftMismatchError,
    DraftModel,
    build_draft,
    check_target,
    default_draft_path,
    read_draft,
    tokenizer_fingerprint,
)

__all__ = ["DraftModelDrafter", "load_draft"]

_PREFILL_MIN = 16  # without the C++ plan, feeds at least this long use the dense prefill


def load_draft(path: str | pathlib.Path, target: LoadedModel, quantize: bool = True) -> DraftModel:
    """Load a draft for ``target`` (an ``engine.loader.LoadedModel``).

    Args:
        path: ``"default"`` (the shipped distilled draft), a distilled-draft
            folder (``draft.json`` + ``draft.safetensors``), or any checkpoint
            `engine.loader.load_model` reads that shares the target's tokenizer.
        target: the loaded target (model, tokenizer, config).
        quantize: store distilled blocks as q8_0.

    Raises:
        DraftMismatchError: vocabulary size or tokenizer differ from the target's.
        ModelLoadError: missing or corrupt draft files.
    """
    p = default_draft_path() if str(path) == "default" else pathlib.Path(path)
    fingerprint = tokenizer_fingerprint(target.tokenizer)
    if (p / DRAFT_CONFIG).exists():
        spec, tensors = read_draft(p)
        check_target(spec, target.config, fingerprint, str(p))
        return build_draft(spec, tensors, target.model, quantize=quantize, name=str(p))
    if not p.exists():
        raise ModelLoadError(f"draft not found: {p}", path=str(p))
    other = load_model(p, max_seq_len=target.model.cos.shape[0])
    if other.config.vocab_size != target.config.vocab_size:
        raise DraftMismatchError(
            f"draft vocabulary {other.config.vocab_size} != target's {target.config.vocab_size}",
            field="vocab_size",
            path=str(p),
        )
    if tokenizer_fingerprint(other.tokenizer) != fingerprint:
        raise DraftMismatchError(
            "draft tokenizer differs from the target's (same size, other token strings)",
            field="tokenizer",
            path=str(p),
        )
    return DraftModel(other.model, None, other.config.vocab_size, str(p))


class DraftModelDrafter:
    """Per-request drafter over a draft model's own KV-cache slot.

    Args:
        draft: the draft model (see `load_draft`).
        confidence: stop drafting before a token whose draft probability
            (top probability when greedy) is below this; 0 disables.
        max_draft: the largest ``k`` ``propose`` will be asked for.
        cache: a shared draft cache to take a slot from; default: a private
            one-slot cache sized to the draft's RoPE table.
        kind: the statistics mode this drafter reports (``"distilled"`` or ``"draft"``).
    """

    def __init__(
        self,
        draft: DraftModel,
        confidence: float = 0.4,
        max_draft: int = 16,
        cache: KVCache | None = None,
        kind: str | None = None,
    ) -> None:
        """Take a cache slot and preallocate the per-step buffers."""
        if not 0.0 <= confidence < 1.0:
            raise EngineConfigError(f"confidence must be in [0, 1), got {confidence}")
        if not 1 <= max_draft <= 64:
            raise EngineConfigError(f"max_draft must be in 1..64, got {max_draft}")
        m = draft.model
        cfg = m.config
        self.model, self.confidence, self.max_draft = m, confidence, max_draft
        self.kind = kind or ("distilled" if draft.kept_ids is not None else "draft")
        self._kept_list = None if draft.kept_ids is None else draft.kept_ids.tolist()
        if cache is None:
            cache = KVCache(cfg.n_layers, 1, cfg.n_kv_heads, m.cos.shape[0], cfg.head_dim)
        self._cache = cache
        self._slot = cache.allocate()
        self._tokens: list[int] = []  # every token whose K/V is in the slot, in order
        self._committed = 0  # prefix of _tokens confirmed by the target; the rest are drafts
        n_rows = m.head.shape[0]
        self._logits = torch.empty(n_rows)  # (K,) next-token logits after the committed prefix
        self._has_logits = False
        self._spec_logits = torch.empty(max_draft, n_rows)  # (k, K) logits after each draft
        self._tok1 = torch.zeros(1, dtype=torch.long)
        self._pos1 = torch.zeros(1, dtype=torch.long)
        self._slot1 = torch.full((1,), self._slot, dtype=torch.long)

    @property
    def n_tokens(self) -> int:
        """Number of confirmed tokens the draft has seen."""
        return self._committed

    def close(self) -> None:
        """Give the cache slot back (the drafter is unusable afterwards)."""
        self._cache.free(self._slot)

    def rollback(self, length: int) -> None:
        """Forget confirmed tokens beyond ``length`` (e.g. the request was truncated)."""
        if not 0 <= length <= self._committed:
            raise ValueError(f"cannot roll back to {length} from {self._committed} tokens")
        if length < self._committed:
            del self._tokens[length:]
            self._committed = length
            self._cache.rollback(self._slot, length)
            self._has_logits = False

    def extend(self, tokens: Sequence[int]) -> None:
        """Append confirmed tokens (the prompt, then each step's accepted tokens + bonus).

        A leading run equal to the last proposal is taken from the cache; the
        remaining drafts are rolled back and the rest is fed in one forward.

        Raises:
            ContextOverflowError: the draft's context is full.
        """
        new = list(tokens)
        spec = self._tokens[self._committed :]
        n = 0
        while n < len(spec) and n < len(new) and spec[n] == new[n]:
            n += 1
        if n:
            self._logits.copy_(self._spec_logits[n - 1])
            self._has_logits = True
        keep = self._committed + n
        del self._tokens[keep:]
        self._committed = keep
        self._cache.lengths[self._slot] = keep
        rest = new[n:]
        if rest:
            self._feed(rest)

    def _feed(self, toks: list[int]) -> None:
        start = self._committed
        end = start + len(toks)
        if end > self._cache.max_seq_len:
            raise ContextOverflowError(
                f"draft context full ({end} > {self._cache.max_seq_len})",
                prompt_tokens=end,
                max_seq_len=self._cache.max_seq_len,
            )
        t = torch.tensor(toks, dtype=torch.long)  # (T,)
        dense = None if len(toks) >= _PREFILL_MIN else False  # short feeds never go dense
        logits = self.model.prefill(t, self._slot, start, self._cache, dense=dense)  # (1, K)
        self._logits.copy_(logits[-1])
        self._has_logits = True
        self._tokens.extend(toks)
        self._committed = end
        self._cache.lengths[self._slot] = end

    def _step(self, token: int, pos: int) -> torch.Tensor:
        """One draft forward of ``token`` at ``pos``: returns (K,) logits."""
        self._tok1[0], self._pos1[0] = token, pos
        return self.model.forward(self._tok1, self._slot1, self._pos1, self._cache)[0]

    def propose(self, k: int) -> list[int]:
        """Draft up to ``k`` tokens after the confirmed prefix, greedily.

        Args:
            k: the most tokens to draft (≤ ``max_draft``).

        Returns:
            The drafted token ids; fewer than ``k`` (possibly none) when the
            draft's confidence (its top probability) drops below the threshold
            or its context is full.
        """
        if not 0 <= k <= self.max_draft:
            raise ValueError(f"k must be in 0..{self.max_draft}, got {k}")
        # Drop drafts of an earlier proposal that were never confirmed.
        del self._tokens[self._committed :]
        if not self._has_logits:
            return []
        room = self._cache.max_seq_len - self._committed
        out: list[int] = []
        logits = self._logits
        for i in range(min(k, room + 1)):
            top = float(logits.max())
            if 1.0 / float(torch.exp(logits - top).sum()) < self.confidence:  # softmax at argmax
                break
            row = int(logits.argmax())
            tok = row if self._kept_list is None else self._kept_list[row]
            out.append(tok)
            if i + 1 < k and i < room:
                # feed the draft so the next one conditions on it; kept for reuse by extend
                logits = self._step(tok, self._committed + i)
                self._spec_logits[i].copy_(logits)
                self._tokens.append(tok)
        return out
