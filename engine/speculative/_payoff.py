"""Whether a draft model can pay for itself: the rule behind ``draft="auto"``.

A draft model speeds decoding up only if the tokens it gets accepted outweigh
what it costs: every target step then verifies γ extra rows (each ``r`` of a
plain step) and the draft runs γ forwards of its own (each ``c`` of a plain
step: one to take in the confirmed tokens, γ − 1 to propose). With per-token
acceptance α, the expected speed-up over plain decoding is

    S(γ) = (1 − α^(γ+1)) / (1 − α) / (1 + γ·(r + c))

(Leviathan et al. 2023, with the draft's cost counted per drafted token).
Decoding one row is bound by reading the weights on a CPU, so ``c`` is the
draft's weight bytes per step over the target's, and ``r`` is the measured row
cost (0.25 on the default model on 2 cores, ``docs/row-cost.md``).

The shipped distilled draft has held-out α = 0.42 and ``c`` ≈ 0.13, so
S(1) ≈ 1.03 and S(2) ≈ 0.92: it cannot pay on this machine, and
``agentkit bench speculative`` agrees (it ran at 0.72–0.99× plain decode, and
turned open chat 18 % slower when mixed with n-gram lookup, 2026-11-28).
``auto`` therefore uses the draft only where S ≥ `MIN_SPEEDUP`; an explicit
draft path is always used (the operator asked for it).
"""

from __future__ import annotations

import json
import pathlib
from dataclasses import dataclass

from engine.model import Transformer

__all__ = ["MIN_SPEEDUP", "Payoff", "draft_payoff", "expected_speedup", "step_bytes"]

# Below this expected speed-up a draft is not worth it: the model leaves out
# per-call overheads, which the benchmark shows are not small.
MIN_SPEEDUP = 1.05
REPORT = "report.json"  # written by `agentkit distill` next to the draft


def expected_speedup(
    alpha: float, row_cost: float, draft_cost: float, gamma_max: int
) -> tuple[float, int]:
    """The best expected speed-up over plain decoding, and the draft length that gives it.

    Args:
        alpha: per-token acceptance in [0, 1).
        row_cost: one more verified row, as a fraction of a plain target step.
        draft_cost: one draft forward, as a fraction of a plain target step.
        gamma_max: the longest draft considered (≥ 1).
    """
    if not 0.0 <= alpha < 1.0 or gamma_max < 1:
        raise ValueError(f"need 0 <= alpha < 1 and gamma_max >= 1, got {alpha}, {gamma_max}")
    best = (0.0, 1)
    for g in range(1, gamma_max + 1):
        s = (1.0 - alpha ** (g + 1)) / (1.0 - alpha) / (1.0 + g * (row_cost + draft_cost))
        if s > best[0]:
            best = (s, g)
    return best


def step_bytes(model: Transformer) -> int:
    """Weight bytes one decode step reads: every block's matrices and the head (one copy each)."""
    total = model.head.data.numel() * model.head.data.element_size()
    for lw in model.layers:
        for w in (lw.wqkv, lw.wo, lw.w_gate_up, lw.w_down):
            total += w.data.numel() * w.data.element_size()
    return total


def heldout_alpha(folder: pathlib.Path) -> float | None:
    """The draft's held-out acceptance from its distillation report (None if unknown)."""
    try:
        report = json.loads((folder / REPORT).read_text())
        alpha = float(report["heldout"]["all"]["alpha"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return alpha if 0.0 <= alpha < 1.0 else None


@dataclass(frozen=True)
class Payoff:
    """The expected payoff of one draft for one target.

    Attributes:
        alpha: held-out per-token acceptance.
        row_cost, draft_cost: as in `expected_speedup`.
        speedup, gamma: its best expected speed-up and draft length.
    """

    alpha: float
    row_cost: float
    draft_cost: float
    speedup: float
    gamma: int

    @property
    def pays(self) -> bool:
        """Whether the expected speed-up reaches `MIN_SPEEDUP`."""
        return self.speedup >= MIN_SPEEDUP

    def describe(self) -> str:
        """One line for logs and benchmark reports."""
        return (
            f"expected {self.speedup:.2f}x plain at gamma {self.gamma} "
            f"(held-out alpha {self.alpha:.2f}, row cost {self.row_cost:.2f}, "
            f"draft cost {self.draft_cost:.2f}; needs {MIN_SPEEDUP:.2f}x)"
        )


def draft_payoff(
    draft: Transformer, target: Transformer, folder: pathlib.Path, row_cost: float, gamma_max: int
) -> Payoff | None:
    """The payoff of ``draft`` (loaded from ``folder``) for ``target``; None without a report."""
    alpha = heldout_alpha(folder)
    if alpha is None:
        return None
    cost = step_bytes(draft) / max(1, step_bytes(target))
    speedup, gamma = expected_speedup(alpha, row_cost, cost, gamma_max)
    return Payoff(alpha, row_cost, cost, speedup, gamma)
