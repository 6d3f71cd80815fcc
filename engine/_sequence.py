"""Per-request decoding state and the step functions a scheduler drives.

A `Sequence` owns one KV-cache slot. `prefill` feeds its prompt; `decode_step`
runs one ragged forward over the last token of any number of sequences;
`accept_token` samples and updates text, stop and grammar state. Speculative
decoding and continuous batching build on the same three pieces and on
``Transformer.forward(tokens, slots, positions)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from engine._structured import JsonConstraint
from engine._text import IncrementalDetokenizer, StopMatcher
from engine._types import FinishReason, SamplingParams
from engine.kv_cache import KVCache
from engine.model import Transformer
from engine.sampling import sample

__all__ = ["Sequence", "accept_token", "decode_step", "prefill"]

# Where the C++ plan does not serve the model, prompts at least this long use
# the dense prefill path (with the plan, `Transformer.prefill` always feeds
# chunks through it: faster, and bit-identical to decoding). With the reference
# dequantize, expanding the weights costs more than the row kernels do for
# shorter prompts (measured on 2 cores: 47 tokens ragged 4.6 s vs dense 20 s
# under heavy load, i.e. about 4x in favour of the row kernels).
PREFILL_DENSE_MIN = 512


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
    text: str = ""
    emitted: int = 0
    finish_reason: FinishReason | None = None

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


def prefill(model: Transformer, cache: KVCache, seq: Sequence) -> torch.Tensor:
    """Feed the prompt into ``seq``'s slot; return the last row's logits (V,)."""
    tokens = torch.tensor(seq.prompt, dtype=torch.long)  # (T,)
    start = cache.lengths[seq.slot]
    # short prompts never take the dense way (see Transformer.prefill for the choice)
    dense = None if tokens.shape[0] >= PREFILL_DENSE_MIN else False
    logits = model.prefill(tokens, seq.slot, start, cache, dense=dense)[0]
    cache.lengths[seq.slot] = start + tokens.shape[0]
    return logits


def decode_step(model: Transformer, cache: KVCache, seqs: list[Sequence]) -> torch.Tensor:
    """Feed each sequence's last output token in one ragged forward; logits (B, V)."""
    tokens = torch.tensor([s.output[-1] for s in seqs], dtype=torch.long)  # (B,)
    slots = torch.tensor([s.slot for s in seqs], dtype=torch.long)
    positions = torch.tensor([cache.lengths[s.slot] for s in seqs], dtype=torch.long)
    logits = model.forward(tokens, slots, positions, cache)  # (B, V)
    for s in seqs:
        cache.lengths[s.slot] += 1
    return logits


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
