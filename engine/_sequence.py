"""Per-request decoding state, and the two rungs of the ladder that read logits.

A `Sequence` owns one KV-cache slot. `accept_token` samples its next token
from a row of logits and updates its text, stop and grammar state; `verify`
accepts drafted tokens while the target's own choice equals them (no draft:
one plain token). `engine._step.step` runs the forward these rows come from.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import torch
from tokenizers import Tokenizer

from engine._structured import JsonConstraint
from engine._text import IncrementalDetokenizer, StopMatcher
from engine._types import FinishReason, SamplingParams, TokenLogprob
from engine.sampling import make_generator, sample, token_logprob

__all__ = ["Sequence", "accept_token", "verify"]


@dataclass(eq=False)
class Sequence:
    """The state of one generation.

    Attributes:
        slot: its KV-cache slot.
        prompt: prompt token ids.
        params: sampling parameters.
        generator: its own random generator.
        detok: incremental detokenizer of the output.
        stops: stop-string matcher.
        stop_ids: token ids that end it (EOS and ``params.stop_token_ids``).
        constraint: JSON-schema constraint, if any.
        output: generated token ids (the last one is not yet in the cache).
        logprobs: log-probability of each generated token.
        token_logprobs: each generated token's `TokenLogprob` (top alternatives
            included), only when ``params.top_logprobs`` is set; a stop-id token
            that ends the sequence has none.
        text: generated text so far (stop string cut off).
        emitted: characters of ``text`` already streamed.
        finish_reason: set when the sequence is done.
    """

    slot: int
    prompt: list[int]
    params: SamplingParams
    generator: torch.Generator
    detok: IncrementalDetokenizer
    stops: StopMatcher
    stop_ids: frozenset[int]
    constraint: JsonConstraint | None = None
    output: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    token_logprobs: list[TokenLogprob] = field(default_factory=list)
    text: str = ""
    emitted: int = 0
    finish_reason: FinishReason | None = None

    @classmethod
    def start(
        cls,
        slot: int,
        prompt: list[int],
        params: SamplingParams,
        tokenizer: Tokenizer,
        eos_ids: Iterable[int],
        constraint: JsonConstraint | None = None,
    ) -> Sequence:
        """A fresh sequence: its own generator, detokenizer and stop matcher.

        EOS (``eos_ids``) ends it unless ``params.ignore_eos``; ``params.stop_token_ids``
        always do.
        """
        return cls(
            slot=slot,
            prompt=prompt,
            params=params,
            generator=make_generator(params.seed),
            detok=IncrementalDetokenizer(tokenizer),
            stops=StopMatcher(params.stop),
            stop_ids=frozenset(params.stop_token_ids)
            | frozenset(() if params.ignore_eos else eos_ids),
            constraint=constraint,
        )

    def all_ids(self) -> torch.Tensor:
        """(N,) prompt and output ids, for the repetition penalty."""
        return torch.tensor(self.prompt + self.output, dtype=torch.long)

    def pending_text(self) -> str:
        """Text that can be streamed now: complete characters not possibly part of a stop."""
        end = len(self.text)
        if self.finish_reason is None:
            end -= self.stops.holdback(self.text)
        out = self.text[self.emitted : end]
        self.emitted = max(self.emitted, end)
        return out


def accept_token(seq: Sequence, logits: torch.Tensor, max_len: int) -> int:
    """Sample from ``logits`` (V,), append the token and update text and finish state.

    Args:
        seq: the sequence.
        logits: (V,) its next-token logits.
        max_len: the cache length; the sequence ends ("length") when it is full.

    Returns:
        the chosen token id.
    """
    p = seq.params
    if seq.constraint is not None:
        logits = seq.constraint.mask(logits)
    seen = seq.all_ids() if p.repetition_penalty != 1.0 else None
    token, logprob = sample(logits, p, seq.generator, seen)
    seq.output.append(token)
    if p.top_logprobs is not None and token not in seq.stop_ids:  # asked for: a top-k pass
        entry = token_logprob(logits, token, p.top_logprobs)
        seq.token_logprobs.append(entry)
        logprob = entry.logprob  # one number per token, whichever path computed it
    seq.logprobs.append(logprob)
    if seq.constraint is not None:
        seq.constraint.accept(token)
    if token in seq.stop_ids:
        seq.finish_reason = "stop"
        return token
    seq.text += seq.detok.push(token)
    cut = seq.stops.find(seq.text)
    if cut is not None:
        seq.text = seq.text[:cut]
        seq.finish_reason = "stop"
    elif seq.constraint is not None and seq.constraint.finished:
        seq.finish_reason = "stop"
    elif len(seq.output) >= p.max_tokens or len(seq.prompt) + len(seq.output) >= max_len:
        seq.finish_reason = "length"
    if seq.finish_reason is not None and cut is None:
        seq.text += seq.detok.flush()
    return token


def verify(seq: Sequence, logits: torch.Tensor, draft: list[int], max_len: int) -> tuple[int, int]:
    """Accept tokens from ``logits`` (k+1, V) while they match the k tokens of ``draft``.

    Row i predicts the token after the sequence's last token and ``draft[:i]``.
    Each row goes through the same `accept_token` as plain decoding, and the
    loop stops at the first token that differs from the draft (that token is
    the target's own choice), after the bonus row, or when the sequence
    finishes; with row-invariant logits this reproduces plain decoding token for
    token, greedy and seeded sampling alike (for a deterministic draft: sample
    from the target, accept while it matches). An empty draft is one plain step.

    Returns:
        (rows whose K/V stay valid in the cache, drafted tokens accepted).
    """
    for i in range(len(draft) + 1):
        token = accept_token(seq, logits[i], max_len)
        matched = i < len(draft) and token == draft[i]
        if seq.finish_reason is not None or not matched:
            return i + 1, i + int(matched)
    raise AssertionError("unreachable: the bonus row always ends the loop")
