"""Typed requests, results and stream events of the engine."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from engine._errors import InvalidSamplingError

__all__ = [
    "MAX_STOP_CHARS",
    "MAX_TOP_LOGPROBS",
    "SEED_LIMIT",
    "FinishReason",
    "GenerationResult",
    "SamplingParams",
    "SpeculativeStats",
    "StatsEvent",
    "StreamEvent",
    "TextDelta",
    "TokenLogprob",
]

FinishReason = Literal["stop", "length", "deadline", "cancelled"]
SpecMode = Literal["off", "ngram", "draft", "distilled", "mixed"]

MAX_STOP_CHARS = 400  # a stop's matcher is linear in its length; no real stop comes close
SEED_LIMIT = 2**63  # seeds are in [0, 2^63): torch takes 64 bits, and JSON clients lose >= 2^63
MAX_TOP_LOGPROBS = 20  # alternatives per token at most: OpenAI's limit, and enough to rank


@dataclass(frozen=True)
class TokenLogprob:
    """One generated token's log-probability and the most likely alternatives at its place.

    Log-probabilities are of the model's raw distribution: the logits' log-softmax
    after a JSON-schema mask (tokens it forbids are -inf) but before the
    repetition penalty, temperature, top-k and top-p (vLLM's default,
    ``raw_logprobs``), so they do not depend on how the token was sampled.

    Attributes:
        token_id: the chosen token.
        logprob: its log-probability (the same number as its entry in ``top``, if there).
        top: ``(token id, log-probability)`` of the most likely tokens, most likely
            first (``SamplingParams.top_logprobs`` of them).
    """

    token_id: int
    logprob: float
    top: tuple[tuple[int, float], ...] = ()


@dataclass(frozen=True)
class SamplingParams:
    """How to pick tokens and when to stop.

    Attributes:
        temperature: 0 for greedy; otherwise logits are divided by it.
        top_k: keep the k most likely tokens (0 = all).
        top_p: nucleus sampling mass in (0, 1].
        repetition_penalty: HF-style penalty (> 0; 1 = off) on tokens already seen.
        seed: seed of this request's own generator, in [0, 2^63) (None = nondeterministic).
        max_tokens: new tokens at most (≥ 1).
        stop: strings that end the generation (excluded from the text), each
            non-empty and at most `MAX_STOP_CHARS` characters.
        stop_token_ids: extra token ids that end the generation (EOS always does).
        logprobs: report the log-probability of each chosen token (`GenerationResult.logprobs`).
        top_logprobs: None: no per-token report. k in [0, `MAX_TOP_LOGPROBS`]: every
            generated token's `TokenLogprob` with the k most likely alternatives (0: the
            chosen token only), on the `TextDelta` that carries it and in
            `GenerationResult.token_logprobs`. Costs a top-k over the vocabulary per
            token, only for requests that ask. A token that ends the generation by
            being a stop id (EOS) has none: it is not part of the text.
        ignore_eos: keep generating past EOS (benchmarks: a fixed number of tokens).
        json_schema: constrain the output to JSON valid against this schema.
    """

    temperature: float = 0.0
    top_k: int = 0
    top_p: float = 1.0
    repetition_penalty: float = 1.0
    seed: int | None = None
    max_tokens: int = 256
    stop: tuple[str, ...] = ()
    stop_token_ids: tuple[int, ...] = ()
    logprobs: bool = False
    top_logprobs: int | None = None
    ignore_eos: bool = False
    json_schema: dict[str, Any] | None = field(default=None, hash=False, compare=False)

    def __post_init__(self) -> None:
        longest = max((len(s) for s in self.stop if isinstance(s, str)), default=0)
        checks = [
            ("temperature", self.temperature >= 0, "must be >= 0"),
            ("top_k", self.top_k >= 0, "must be >= 0"),
            ("top_p", 0 < self.top_p <= 1, "must be in (0, 1]"),
            ("repetition_penalty", self.repetition_penalty > 0, "must be > 0"),
            ("max_tokens", self.max_tokens >= 1, "must be >= 1"),
            ("stop", all(isinstance(s, str) and s for s in self.stop), "must be non-empty strings"),
            (
                "stop",
                longest <= MAX_STOP_CHARS,
                f"must be at most {MAX_STOP_CHARS} characters each (one has {longest})",
            ),
            ("seed", self.seed is None or _is_seed(self.seed), f"must be in [0, {SEED_LIMIT})"),
            (
                "top_logprobs",
                self.top_logprobs is None or _in_range(self.top_logprobs, MAX_TOP_LOGPROBS),
                f"must be None or in [0, {MAX_TOP_LOGPROBS}]",
            ),
        ]
        for name, ok, why in checks:
            if not ok:
                got = _shown(getattr(self, name))
                raise InvalidSamplingError(f"{name} {why}, got {got}", field=name)
        if isinstance(self.stop, list):  # accept lists from callers, store a tuple
            object.__setattr__(self, "stop", tuple(self.stop))
        if isinstance(self.stop_token_ids, list):
            object.__setattr__(self, "stop_token_ids", tuple(self.stop_token_ids))


def _is_seed(seed: object) -> bool:
    return isinstance(seed, int) and not isinstance(seed, bool) and 0 <= seed < SEED_LIMIT


def _in_range(value: object, most: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= most


def _shown(value: object) -> str:
    """``value`` for an error message, cut short (a rejected stop may be megabytes)."""
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:60]}... ({len(text)} characters)"


@dataclass(frozen=True)
class SpeculativeStats:
    """Speculative-decoding statistics of one generation (zeros with mode "off").

    Attributes:
        mode: the drafting mode that ran.
        drafted: draft tokens proposed.
        accepted: draft tokens the target accepted.
        acceptance_rate: accepted / drafted (0 when nothing was drafted).
        target_steps: forward passes of the target model while decoding.
        mean_accepted_length: tokens gained per target step = 1 + accepted / target_steps.
        fallback_reason: why speculation was switched off, if it was.
    """

    mode: SpecMode = "off"
    drafted: int = 0
    accepted: int = 0
    acceptance_rate: float = 0.0
    target_steps: int = 0
    mean_accepted_length: float = 1.0
    fallback_reason: str | None = None

    @classmethod
    def plain(cls, target_steps: int) -> SpeculativeStats:
        """Stats of a plain (non-speculative) decode of ``target_steps`` forward passes."""
        return cls(target_steps=target_steps)


@dataclass(frozen=True)
class GenerationResult:
    """The outcome of one generation.

    Attributes:
        text: the generated text (stop string excluded).
        token_ids: generated token ids.
        finish_reason: "stop", "length", "deadline" or "cancelled".
        prompt_tokens, completion_tokens: token counts.
        logprobs: log-probability (model distribution) of each token, if requested.
        ttft_ms: request start to first token.
        prefill_ms: time in the prompt forward pass.
        decode_ms: time generating tokens after the first.
        speculative: speculative statistics.
        token_logprobs: each token's `TokenLogprob` when ``top_logprobs`` was set
            (a final stop-id token has none), else None.
    """

    text: str
    token_ids: list[int]
    finish_reason: FinishReason
    prompt_tokens: int
    completion_tokens: int
    logprobs: list[float] | None
    ttft_ms: float
    prefill_ms: float
    decode_ms: float
    speculative: SpeculativeStats
    token_logprobs: list[TokenLogprob] | None = None


@dataclass(frozen=True)
class TextDelta:
    """New text of a stream (never splits a UTF-8 character or a possible stop string).

    Attributes:
        text: the new text; empty only in a request's last delta, which then
            carries the `TokenLogprob` of tokens whose text was held back and cut
            (a stop string).
        token_ids: the tokens generated since the previous delta.
        logprobs: their `TokenLogprob` (one per token, a final stop-id token
            excepted) when ``SamplingParams.top_logprobs`` was set, else None.
    """

    text: str
    token_ids: list[int]
    logprobs: list[TokenLogprob] | None = None


@dataclass(frozen=True)
class StatsEvent:
    """A periodic snapshot while streaming.

    Attributes:
        completion_tokens: tokens generated so far.
        mean_logprob: mean log-probability of the tokens so far (confidence signal).
        tokens_per_s: decode speed so far.
        speculative: running speculative statistics.
    """

    completion_tokens: int
    mean_logprob: float
    tokens_per_s: float
    speculative: SpeculativeStats


StreamEvent = TextDelta | StatsEvent | GenerationResult
