"""Verification: which drafted tokens the target accepts, and the next token.

Greedy: accept the longest prefix of the draft that equals the target's argmax,
then emit the target's own token at the first mismatch (or a bonus token when
all are accepted) — so the output is exactly plain greedy decoding.

Sampling (Leviathan et al. 2023; Chen et al. 2023): accept draft token x with
probability min(1, p(x)/q(x)); on rejection sample from norm(max(0, p − q)).
This leaves the output distribution equal to the target's p. A deterministic
drafter has q = one-hot, which reduces to: sample from p, accept while it
matches the draft.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["Verdict", "verify_greedy", "verify_sampled"]


@dataclass(frozen=True)
class Verdict:
    """Outcome of verifying one row's draft.

    Attributes:
        accepted: How many drafted tokens were accepted (a prefix of the draft).
        tokens: The tokens to emit: the accepted draft plus one target token.
    """

    accepted: int
    tokens: list[int]


def verify_greedy(target_tokens: torch.Tensor, draft: list[int]) -> Verdict:
    """Greedy verification.

    Args:
        target_tokens: (γ+1,) the target's argmax at each verified position:
            entry i is its choice after the prefix + draft[:i].
        draft: γ proposed tokens.
    """
    choice = target_tokens.tolist()
    n = 0
    while n < len(draft) and draft[n] == choice[n]:
        n += 1
    return Verdict(n, [*draft[:n], choice[n]])


def verify_sampled(
    p: torch.Tensor,
    draft: list[int],
    q: torch.Tensor | None,
    generator: torch.Generator | None = None,
) -> Verdict:
    """Lossless speculative sampling.

    Args:
        p: (γ+1, V) target probabilities at each verified position.
        draft: γ proposed tokens.
        q: (γ, V) draft probabilities, or None for a deterministic drafter.
        generator: the request's seeded generator.
    """
    for i, x in enumerate(draft):
        if q is None:
            # one-hot q: sample from p and keep going while it matches the draft
            tok = int(torch.multinomial(p[i], 1, generator=generator))
            if tok != x:
                return Verdict(i, [*draft[:i], tok])
            continue
        ratio = (p[i, x] / q[i, x].clamp_min(1e-20)).clamp(max=1.0)  # accept with min(1, p/q)
        if float(torch.rand((), generator=generator)) >= float(ratio):
            residual = (p[i] - q[i]).clamp_min(0.0)  # resample from norm(max(0, p - q))
            total = residual.sum()
            dist = residual / total if float(total) > 0 else p[i]
            tok = int(torch.multinomial(dist, 1, generator=generator))
            return Verdict(i, [*draft[:i], tok])
    bonus = int(torch.multinomial(p[len(draft)], 1, generator=generator))
    return Verdict(len(draft), [*draft, bonus])
