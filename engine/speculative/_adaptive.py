"""Adaptive draft length: speculate as far as it pays, and stop when it does not.

γ grows after a fully accepted draft and shrinks after a rejection. A request
whose acceptance stays low turns speculation off (after a warm-up), because a
verification step with rejected drafts costs more than a plain decode step.

Tokens per step alone cannot tell whether speculation pays: a draft model's own
forwards cost time that the count does not see (measured on 2 cores: the mixed
drafter at 1.66 tokens a step decoded math at 0.79x plain speed). So when a
request decodes alone, the controller also times its steps: after the warm-up it
runs ``probe_steps`` plain steps, and from then on speculation stays on only
while its tokens per second over the last ``judge_window`` speculative steps
beat the plain steps' rate. Only steps after the warm-up count: the warm-up
explores long drafts, and judging the chosen γ by them would turn off a
drafter that pays at a shorter length.

After the warm-up, γ is the length that maximises the expected speed-up
``(1 − α^(γ+1)) / ((1 − α)(1 + γ·r))``, with α the request's acceptance so far
and r the cost of one more row (and draft token) as a fraction of a plain
step: 0.25 on the default model on 2 cores (an extra row ~0.23 with the
interleaved int8 kernel, plus a draft-model token; ``docs/measurements/row-cost.md``),
replaced by the request's own timing once it has probed plain steps. Rows are
not free on a CPU, so a mediocre drafter gets short drafts rather than long ones.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from engine._errors import EngineConfigError

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
        probe_steps: Plain steps timed after the warm-up (requests decoding
            alone), the baseline speculation's tokens per second must beat.
        row_cost: Prior cost of one more verified row and draft token, as a
            fraction of a plain step (until the request's own timing replaces it).
        judge_window: Recent speculative steps (after the warm-up) whose speed
            is compared with the plain steps'; at least ``min_judged`` of them.
        spec_tokens, spec_seconds, spec_steps, spec_rows: Tokens emitted by,
            wall time of, number of, and tokens drafted in the timed speculative steps.
        plain_seconds: Wall times of the timed plain steps.
        recent: (tokens, seconds) of the timed speculative steps after the warm-up.
    """

    gamma: int = 4
    gamma_min: int = 1
    gamma_max: int = 8
    warmup_steps: int = 6
    min_tokens_per_step: float = 1.3
    probe_steps: int = 2
    row_cost: float = 0.25
    steps: int = 0
    drafted: int = 0
    accepted: int = 0
    disabled_reason: str | None = None
    spec_tokens: int = 0
    spec_seconds: float = 0.0
    spec_steps: int = 0
    spec_rows: int = 0
    plain_seconds: list[float] = field(default_factory=list)
    judge_window: int = 8
    min_judged: int = 3
    recent: deque[tuple[int, float]] = field(default_factory=deque)  # bounded in __post_init__

    def __post_init__(self) -> None:
        self.recent = deque(self.recent, maxlen=self.judge_window)
        if not 1 <= self.gamma_min <= self.gamma <= self.gamma_max <= 64:
            raise EngineConfigError(
                f"need 1 <= gamma_min <= gamma <= gamma_max <= 64, got "
                f"{self.gamma_min}, {self.gamma}, {self.gamma_max}"
            )

    @property
    def active(self) -> bool:
        """Whether this request should still draft."""
        return self.disabled_reason is None

    @property
    def wants_plain_probe(self) -> bool:
        """Whether the next step should run plain, to time the baseline."""
        if self.spec_seconds == 0.0 or self.steps < self.warmup_steps:
            return False
        return len(self.plain_seconds) < self.probe_steps

    def observe_plain(self, seconds: float) -> None:
        """Record the wall time of a plain step of this request decoding alone."""
        self.plain_seconds.append(seconds)
        self._judge_speed()

    def observe_speculative(self, tokens: int, seconds: float, drafted: int = 0) -> None:
        """Record a speculative step of this request decoding alone: tokens emitted, time."""
        if self.steps == 0:
            return  # the first step pays one-off costs (a draft model's first call)
        self.spec_tokens += tokens
        self.spec_seconds += seconds
        self.spec_steps += 1
        self.spec_rows += drafted
        if self.steps >= self.warmup_steps:
            self.recent.append((tokens, seconds))  # the oldest falls out past judge_window
        self._judge_speed()

    def measured_row_cost(self) -> float:
        """One more row's cost as a fraction of a plain step: timed, else ``row_cost``."""
        if not self.plain_seconds or not self.spec_steps or not self.spec_rows:
            return self.row_cost
        plain = sum(self.plain_seconds) / len(self.plain_seconds)
        ratio = self.spec_seconds / self.spec_steps / plain  # a speculative step in plain steps
        return min(max((ratio - 1.0) / (self.spec_rows / self.spec_steps), 0.05), 2.0)

    def best_gamma(self) -> int:
        """The draft length with the highest expected speed-up at this acceptance and cost."""
        alpha = min(self.accepted / self.drafted, 0.99) if self.drafted else 0.5
        r = self.measured_row_cost()

        def gain(g: int) -> float:
            return (1.0 - alpha ** (g + 1)) / (1.0 - alpha) / (1.0 + g * r)

        return max(range(self.gamma_min, self.gamma_max + 1), key=lambda g: (gain(g), -g))

    def _judge_speed(self) -> None:
        if len(self.plain_seconds) < self.probe_steps or not self.active:
            return
        if len(self.recent) < self.min_judged:
            return
        plain_rate = len(self.plain_seconds) / sum(self.plain_seconds)
        spec_rate = sum(t for t, _ in self.recent) / sum(s for _, s in self.recent)
        if spec_rate < plain_rate:
            self.disabled_reason = (
                f"speculation did not pay: {spec_rate:.0f} tokens/s against "
                f"{plain_rate:.0f} tokens/s plain"
            )

    def update(self, drafted: int, accepted: int) -> None:
        """Record one verification step and adapt ``gamma``."""
        if drafted == 0:
            return
        self.steps += 1
        self.drafted += drafted
        self.accepted += accepted
        if self.steps >= self.warmup_steps:
            self.gamma = self.best_gamma()
        elif accepted == drafted:
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
