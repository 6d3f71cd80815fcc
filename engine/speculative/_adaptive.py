"""Adaptive draft length: speculate as far as it pays, and stop when it does not.

γ grows after a fully accepted draft and shrinks after a rejection. A request
whose acceptance stays low turns speculation off (after a warm-up), because a
verification step with rejected drafts costs more than a plain decode step.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["GammaController"]


@dataclass
class GammaController:
    """Per-request draft-length control.

    Attributes:
        gamma: Current draft length.
        gamma_min, gamma_max: Bounds for ``gamma``.
        warmup_steps: Speculative steps observed before judging it.
        min_tokens_per_step: Below this mean accepted length (after warm-up),
            speculation turns off for the request. A verify step of γ+1 rows
            costs ~1.1–1.3 plain steps on CPU, so it must yield more than that.
    """

    gamma: int = 4
    gamma_min: int = 1
    gamma_max: int = 8
    warmup_steps: int = 6
    min_tokens_per_step: float = 1.3
    steps: int = 0
    drafted: int = 0
    accepted: int = 0
    disabled_reason: str | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.gamma_min <= self.gamma <= self.gamma_max <= 64:
            raise ValueError(
                f"need 1 <= gamma_min <= gamma <= gamma_max <= 64, got "
                f"{self.gamma_min}, {self.gamma}, {self.gamma_max}"
            )

    @property
    def active(self) -> bool:
        """Whether this request should still draft."""
        return self.disabled_reason is None

    def update(self, drafted: int, accepted: int) -> None:
        """Record one verification step and adapt ``gamma``."""
        if drafted == 0:
            return
        self.steps += 1
        self.drafted += drafted
        self.accepted += accepted
        if accepted == drafted:
            self.gamma = min(self.gamma + 1, self.gamma_max)
        elif accepted < drafted // 2:
            self.gamma = max(self.gamma - 1, self.gamma_min)
        if self.steps >= self.warmup_steps:
            per_step = 1.0 + self.accepted / self.steps
            if per_step < self.min_tokens_per_step:
                self.disabled_reason = (
                    f"speculation did not pay: {per_step:.2f} tokens per step "
                    f"< {self.min_tokens_per_step:.2f}"
                )
