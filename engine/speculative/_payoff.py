"""Whether a draft model can pay for itself: the rule behind ``draft="auto"``.

A draft model speeds decoding up only if the tokens it gets accepted outweigh
what it costs: every target step then verifies γ extra rows (each ``r`` of a
plain step) and the draft runs γ forwards of its own (each ``c`` of a plain
step: one to take in the confirmed tokens, γ − 1 to propose). With per-token
acceptance α, the expected speed-up over plain decoding is

    S(γ) = (1 − α^(γ+1)) / (1 − α) / (1 + γ·(r + c))

(Leviathan et al. 2023, with the draft's cost counted per drafted token).
Decoding one row is bound by reading the weights on a CPU, so ``c`` is the
draft's weight bytes per step over the target's; ``r`` is `ROW_COST`, one
extra verified row as measured on the default model on 2 cores
(``docs/measurements/row-cost.md``). The engine runs on CPU only, so both are CPU numbers.

The formula flatters a draft: it leaves out per-call overheads and the
confidence stop (a draft that declines to propose still pays for taking in
each step's tokens), and ``auto`` adds a draft *to* n-gram lookup, which
already gives ~1.07× on routine prompts. In two quiet runs of ``agentkit bench
speculative`` (medians of 3 rounds) the formula ran 11-16 % above the draft's
measured speed: the 546 k-token draft (α 0.45) was predicted 1.06×, measured
0.92-0.99× alone (mean 0.96, 2026-12-05 03:5x UTC) and mixed with n-gram
slower than n-gram alone on all four tasks; the 942 k-token draft (α 0.50) was
predicted 1.10×, measured 0.88-1.02× alone, and mixed with n-gram it was
slower than n-gram alone on three of the four tasks (2026-12-05 04:55 UTC);
the same data trained twice as long (α 0.54, shipped) was predicted 1.14×,
measured 0.90-1.15× alone and again slower mixed on three of four (06:33). So
`MIN_SPEEDUP` is 1.20: a draft must be predicted to beat plain decoding by
~20 % before it can be expected to add to n-gram lookup; the shipped draft
stays out and ``auto`` uses n-gram lookup. A draft with α ≈ 0.65 (S ≈ 1.21)
would be used. A draft without a held-out report is left out too (its payoff
is unknown, and speculation must never make decoding meaningfully slower). An
explicit draft path is always used: the operator asked for it.
"""

from __future__ import annotations

import json
import pathlib
from dataclasses import dataclass

from engine._errors import EngineConfigError
from engine.model import Transformer

__all__ = [
    "MIN_SPEEDUP",
    "ROW_COST",
    "Payoff",
    "auto_keeps",
    "draft_payoff",
    "expected_speedup",
    "step_bytes",
]

# The predicted speed-up a draft needs before "auto" uses it: the formula ran
# 11-16 % above the measured speed of the shipped drafts, which are added to
# n-gram lookup's ~1.07x (see the module doc).
MIN_SPEEDUP = 1.20
# One more verified row of the default model, as a fraction of a one-row step:
# 2 cores, interleaved int8 kernel (docs/measurements/row-cost.md: ~1.6 ms on a 7.0 ms step).
ROW_COST = 0.23
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
        raise EngineConfigError(f"need 0 <= alpha < 1 and gamma_max >= 1, got {alpha}, {gamma_max}")
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
    return _payoff(step_bytes(draft), target, folder, row_cost, gamma_max)


def auto_keeps(
    draft: Transformer | int, target: Transformer, folder: pathlib.Path, gamma_max: int
) -> tuple[bool, str | None]:
    """Whether ``draft="auto"`` uses the draft in ``folder``, and if not, why.

    ``draft`` is the built draft or its `step_bytes` (``draft_step_bytes``
    gives them before building).
    """
    size = step_bytes(draft) if isinstance(draft, Transformer) else draft
    payoff = _payoff(size, target, folder, ROW_COST, gamma_max)
    if payoff is None:
        return False, f"no held-out acceptance in {folder / REPORT}: its payoff is unknown"
    if payoff.pays:
        return True, None
    return False, payoff.describe()


def _payoff(
    draft_bytes: int, target: Transformer, folder: pathlib.Path, row_cost: float, gamma_max: int
) -> Payoff | None:
    alpha = heldout_alpha(folder)
    if alpha is None:
        return None
    cost = draft_bytes / max(1, step_bytes(target))
    speedup, gamma = expected_speedup(alpha, row_cost, cost, gamma_max)
    return Payoff(alpha, row_cost, cost, speedup, gamma)
