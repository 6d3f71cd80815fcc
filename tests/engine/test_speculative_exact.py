"""Speculative decoding reproduces plain decoding exactly (the engine invariant).

Greedy and seeded sampling alike: verification accepts a drafted token only
when the target's own choice — computed bit-identically to single-token
decode — equals it, so the emitted tokens cannot differ.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from collections.abc import Sequence as Seq

import pytest
from tokenizers import Tokenizer, models

from engine._sequence import Sequence
from engine._step import Decode, Prefill, step
from engine._types import SamplingParams
from engine.kv_cache import KVCache
from engine.model import Transformer
from engine.speculative import GammaController, NgramDrafter
from engine.speculative._state import SpecState
from tests.engine._sched_helpers import MODEL_VARIANTS, tiny_variant, variant_id

pytest.importorskip("transformers")

VOCAB = 288
MAX_LEN = 160


@pytest.fixture(scope="module", params=MODEL_VARIANTS, ids=variant_id)
def tiny(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Transformer]:
    """The tiny model in fp32 and quantized on every kernel path (exactness per path)."""
    yield from tiny_variant(request, tmp_path_factory, MAX_LEN)


def _tokenizer() -> Tokenizer:
    return Tokenizer(models.WordLevel({f"t{i} ": i for i in range(VOCAB)}, unk_token="t0 "))


def _sequence(slot: int, prompt: list[int], params: SamplingParams) -> Sequence:
    return Sequence.start(slot, prompt, params, _tokenizer(), eos_ids=())


def _prefill(model: Transformer, cache: KVCache, seq: Sequence, max_len: int = MAX_LEN) -> None:
    step(model, cache, [Prefill(seq, 0, len(seq.prompt))], [], max_len)


def _speculative_step(
    model: Transformer,
    cache: KVCache,
    seqs: list[Sequence],
    states: list[SpecState],
    max_len: int = MAX_LEN,
) -> None:
    """One step for every sequence, each with its own draft (k = 0 where none): one forward."""
    drafts = [state.propose(seq) for seq, state in zip(seqs, states, strict=True)]
    verified = step(model, cache, [], [Decode(s, d) for s, d in zip(seqs, drafts, strict=True)],
                    max_len)  # fmt: skip
    for state, draft, (_, accepted) in zip(states, drafts, verified, strict=True):
        state.record(len(draft), accepted)


def _plain(model: Transformer, prompt: list[int], params: SamplingParams) -> list[int]:
    cache = KVCache(
        model.config.n_layers, 1, model.config.n_kv_heads, MAX_LEN, model.config.head_dim
    )
    seq = _sequence(0, prompt, params)
    _prefill(model, cache, seq)
    while seq.finish_reason is None:
        step(model, cache, [], [Decode(seq, [])], MAX_LEN)
    return seq.output


class NoisyOracle:
    """Proposes the true continuation with a wrong token mixed in: partial acceptance."""

    kind = "draft"

    def __init__(self, truth: list[int], prompt_len: int, seed: int) -> None:
        self.truth, self.prompt_len, self.rng = truth, prompt_len, random.Random(seed)

    def draft(self, context: Seq[int], k: int) -> list[int]:
        done = len(context) - self.prompt_len
        out = list(self.truth[done : done + k])
        if out and self.rng.random() < 0.5:
            out[self.rng.randrange(len(out))] = self.rng.randrange(VOCAB)
        return out


class Broken:
    kind = "draft"

    def draft(self, context: Seq[int], k: int) -> list[int]:
        raise RuntimeError("drafter crashed")


def _speculative(
    model: Transformer, prompts: list[list[int]], params: SamplingParams, drafters: list[list]
) -> tuple[list[list[int]], list[SpecState]]:
    """Decode several sequences together, each speculating with its own drafters."""
    cache = KVCache(
        model.config.n_layers, len(prompts), model.config.n_kv_heads, MAX_LEN, model.config.head_dim
    )
    seqs = [_sequence(i, p, params) for i, p in enumerate(prompts)]
    states = [SpecState(tuple(d), GammaController(gamma=4, warmup_steps=10**6)) for d in drafters]
    for seq in seqs:
        _prefill(model, cache, seq)
    while live := [i for i, s in enumerate(seqs) if s.finish_reason is None]:
        _speculative_step(model, cache, [seqs[i] for i in live], [states[i] for i in live])
    return [s.output for s in seqs], states


def _prompts(n: int, seed: int) -> list[list[int]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        motif = [rng.randrange(VOCAB) for _ in range(6)]
        out.append(motif * 3 + [rng.randrange(VOCAB) for _ in range(rng.randrange(1, 6))])
    return out


@pytest.mark.parametrize("temperature", [0.0, 0.9])
def test_speculative_equals_plain_for_every_drafter(tiny: Transformer, temperature: float) -> None:
    params = SamplingParams(temperature=temperature, seed=7, max_tokens=40)
    prompts = _prompts(6, seed=1)
    plain = [_plain(tiny, p, params) for p in prompts]
    drafters = [
        [NgramDrafter()],
        [NoisyOracle(plain[1], len(prompts[1]), 1)],
        [NgramDrafter(), NoisyOracle(plain[2], len(prompts[2]), 2)],
        [NoisyOracle(plain[3], len(prompts[3]), 3)],
        [NgramDrafter(n_max=3, n_min=1)],
        [Broken(), NgramDrafter()],
    ]
    outputs, states = _speculative(tiny, prompts, params, drafters)
    assert outputs == plain  # token for token, all rows batched together
    oracle = states[1].stats()
    assert oracle.drafted > 0 and 0 < oracle.accepted < oracle.drafted
    assert oracle.mean_accepted_length > 1.0
    assert oracle.target_steps < len(plain[1])  # fewer target passes than tokens
    assert states[2].stats().mode in {"mixed", "ngram", "draft"}
    broken = states[5].stats()
    assert broken.fallback_reason and "drafter crashed" in broken.fallback_reason


def test_statistics_follow_their_definitions(tiny: Transformer) -> None:
    params = SamplingParams(max_tokens=30)
    prompt = _prompts(1, seed=3)[0]
    truth = _plain(tiny, prompt, params)
    _, (state,) = _speculative(tiny, [prompt], params, [[NoisyOracle(truth, len(prompt), 9)]])
    s = state.stats()
    assert s.acceptance_rate == pytest.approx(s.accepted / s.drafted)
    assert s.mean_accepted_length == pytest.approx(1 + s.accepted / s.target_steps)
    # every emitted token after the first came from a target step or an accepted draft
    assert s.target_steps + s.accepted == len(truth) - 1


def test_default_model_greedy_speculation_is_exact(model_kernel_path: str) -> None:
    from engine import Engine

    engine = Engine.load("default", max_seq_len=512, max_slots=2)
    code = "def add(a, b):\n    return a + b\n\ndef sub(a, b):\n    return a - b\n"
    prompt = engine.render_chat(
        [{"role": "user", "content": f"Rename the functions to plus and minus:\n{code}"}]
    )
    ids = engine.encode(prompt)
    params = SamplingParams(max_tokens=48)
    model, cache = engine.model, engine.cache

    def run(spec: bool) -> tuple[list[int], SpecState]:
        seq = engine.new_sequence(ids, params)
        state = SpecState((NgramDrafter(),), GammaController(warmup_steps=10**6))
        try:
            _prefill(model, cache, seq, engine.max_seq_len)
            while seq.finish_reason is None:
                if spec:
                    _speculative_step(model, cache, [seq], [state], engine.max_seq_len)
                else:
                    step(model, cache, [], [Decode(seq, [])], engine.max_seq_len)
            return seq.output, state
        finally:
            engine.release(seq)

    plain, _ = run(False)
    fast, state = run(True)
    assert fast == plain
    assert state.stats().accepted > 0  # the code edit copies its prompt: lookup pays
