"""Token selection (greedy, temperature, top-k, top-p, repetition penalty) and log-probabilities."""

from __future__ import annotations

import torch

from engine import kernels
from engine._types import SamplingParams, TokenLogprob

__all__ = ["apply_repetition_penalty", "make_generator", "sample", "token_logprob"]


def make_generator(seed: int | None) -> torch.Generator:
    """A per-request generator, so one request's draws never shift another's."""
    g = torch.Generator()
    if seed is None:
        g.seed()
    else:
        g.manual_seed(seed)
    return g


def apply_repetition_penalty(
    logits: torch.Tensor, seen: torch.Tensor, penalty: float
) -> torch.Tensor:
    """HF/CTRL penalty: divide positive, multiply negative logits of ``seen`` tokens.

    Args:
        logits: (V,) fp32.
        seen: (N,) int64 token ids already in the context.
        penalty: > 0; 1 leaves logits unchanged.
    """
    if penalty == 1.0 or seen.numel() == 0:
        return logits
    out = logits.clone()
    s = out[seen]
    out[seen] = torch.where(s > 0, s / penalty, s * penalty)
    return out


def _filter_top_k_top_p(logits: torch.Tensor, top_k: int, top_p: float) -> torch.Tensor:
    """Set logits outside the top-k / nucleus to -inf (logits (V,), already tempered)."""
    if 0 < top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k).values[-1]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits, idx = torch.sort(logits, descending=True)
        probs = sorted_logits.softmax(-1)
        # drop a token when the mass before it already reaches top_p (the first one stays)
        drop = (probs.cumsum(-1) - probs) >= top_p
        logits = logits.masked_fill(torch.zeros_like(drop).scatter(0, idx, drop), float("-inf"))
    return logits


def sample(
    logits: torch.Tensor,
    params: SamplingParams,
    generator: torch.Generator | None = None,
    seen: torch.Tensor | None = None,
) -> tuple[int, float]:
    """Pick the next token from ``logits`` (V,).

    Args:
        logits: (V,) fp32 raw model logits (a constraint mask may have set -inf).
        params: the request's sampling parameters.
        generator: the request's generator (needed when temperature > 0).
        seen: (N,) token ids for the repetition penalty.

    Returns:
        (token id, log-probability of that token under the raw model distribution).
    """
    logits = logits.float()
    if params.temperature == 0.0 and seen is None:
        picked = kernels.greedy_pick(logits)  # one C++ pass, ~20 µs
        if picked is not None:
            return picked
    adjusted = logits
    if seen is not None:
        adjusted = apply_repetition_penalty(logits, seen, params.repetition_penalty)
    if params.temperature == 0.0:
        token = int(torch.argmax(adjusted))
    else:
        scaled = _filter_top_k_top_p(adjusted / params.temperature, params.top_k, params.top_p)
        token = int(torch.multinomial(scaled.softmax(-1), 1, generator=generator))
    logprob = float(logits[token] - torch.logsumexp(logits, -1))
    return token, logprob


def token_logprob(logits: torch.Tensor, token: int, k: int) -> TokenLogprob:
    """``token``'s log-probability under ``logits`` (V,) and the ``k`` most likely tokens'.

    ``logits`` are the ones `sample` received: raw, or masked by a JSON-schema
    constraint; never tempered or penalised. The chosen token's number and its
    entry among the top ones come from the same subtraction, so they are equal.
    """
    logits = logits.float()
    lse = torch.logsumexp(logits, -1)
    chosen = float(logits[token] - lse)
    if k == 0:
        return TokenLogprob(token, chosen)
    values, ids = torch.topk(logits, min(k, logits.shape[-1]))  # (k,), most likely first
    top = tuple((int(i), float(v - lse)) for v, i in zip(values, ids, strict=True))
    return TokenLogprob(token, chosen, top)
