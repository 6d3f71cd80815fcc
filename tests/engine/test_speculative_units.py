"""Drafting and verification math, independent of any model."""

from __future__ import annotations

import random

import pytest
import torch
from tokenizers import Tokenizer, models

from engine._sequence import Sequence, verify
from engine._types import SamplingParams
from engine.speculative import GammaController, NgramDrafter


def _brute_force(tokens: list[int], n_max: int, n_min: int, k: int) -> list[int]:
    """The specification: most recent earlier occurrence of the longest suffix."""
    for n in range(n_max, n_min - 1, -1):
        if len(tokens) <= n:
            continue
        suffix = tokens[-n:]
        for start in range(len(tokens) - n - 1, -1, -1):
            if tokens[start : start + n] == suffix:
                return tokens[start + n : start + n + k]
    return []


def test_ngram_matches_brute_force_on_random_streams() -> None:
    rng = random.Random(0)
    for _ in range(50):
        drafter = NgramDrafter(n_max=4, n_min=2)
        tokens: list[int] = []
        for _ in range(120):
            tok = rng.randrange(6)  # small alphabet: many repeats
            tokens.append(tok)
            drafter.extend([tok])
            assert drafter.propose(5) == _brute_force(tokens, 4, 2, 5)


def test_ngram_copies_a_repeated_span() -> None:
    drafter = NgramDrafter()
    drafter.extend([1, 2, 3, 4, 5, 6, 7, 9, 1, 2, 3])
    assert drafter.propose(3) == [4, 5, 6]
    assert drafter.last_match_len == 3
    with pytest.raises(ValueError):
        NgramDrafter(n_max=1, n_min=2)


def _seq(params: SamplingParams, vocab: int = 16) -> Sequence:
    tok = Tokenizer(models.WordLevel({f"t{i} ": i for i in range(vocab)}, unk_token="t0 "))
    return Sequence.start(0, [1, 2], params, tok, eos_ids=())


def test_greedy_verification_accepts_the_matching_prefix() -> None:
    # the target's argmax after each draft prefix: 5, 6, 9, then 8
    logits = torch.nn.functional.one_hot(torch.tensor([5, 6, 9, 8]), 16).float()
    params = SamplingParams(max_tokens=100)
    for draft, tokens, kept_accepted in [
        ([5, 6, 7], [5, 6, 9], (3, 2)),  # the target's own token at the first mismatch
        ([5, 6, 9], [5, 6, 9, 8], (4, 3)),  # all accepted, plus the bonus token
        ([1, 6, 9], [5], (1, 0)),
        ([], [5], (1, 0)),  # no draft: one plain token
    ]:
        seq = _seq(params)
        assert verify(seq, logits[: len(draft) + 1], draft, 64) == kept_accepted
        assert seq.output == tokens


def test_verification_stops_when_the_sequence_finishes() -> None:
    logits = torch.nn.functional.one_hot(torch.tensor([5, 6, 9, 8]), 16).float()
    seq = _seq(SamplingParams(max_tokens=2))
    assert verify(seq, logits, [5, 6, 9], 64) == (2, 2)  # max_tokens reached at the 2nd row
    assert seq.output == [5, 6] and seq.finish_reason == "length"


def test_speculative_sampling_preserves_the_target_distribution() -> None:
    """Chi-square: the first emitted token follows p, whatever a deterministic draft proposes."""
    vocab, n = 5, 6000
    p = torch.tensor([[0.5, 0.2, 0.15, 0.1, 0.05], [0.2] * 5])
    counts = torch.zeros(vocab)
    params = SamplingParams(temperature=1.0, seed=1, max_tokens=100)
    seq = _seq(params, vocab)
    for _ in range(n):
        seq.output.clear()
        seq.logprobs.clear()
        verify(seq, p.log(), [3], 64)  # a fixed, badly chosen draft
        counts[seq.output[0]] += 1
    expected = p[0] * n
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < 18.47  # p = 0.001 critical value, 4 degrees of freedom


def test_gamma_controller_grows_shrinks_and_gives_up() -> None:
    ctl = GammaController(gamma=4, warmup_steps=3)
    ctl.update(4, 4)
    assert ctl.gamma == 5
    ctl.update(5, 0)
    assert ctl.gamma == 4 and ctl.active
    ctl.update(4, 0)
    assert ctl.active  # 1 + 4/3 tokens per step still pays
    for _ in range(50):
        ctl.update(ctl.gamma, 0)
    assert ctl.gamma == ctl.gamma_min
    assert not ctl.active and "did not pay" in (ctl.disabled_reason or "")
    with pytest.raises(ValueError):
        GammaController(gamma=0)


def _warm(ctl: GammaController, steps: int, tokens: int, seconds: float) -> None:
    """``steps`` speculative steps of one request decoding alone, each timed."""
    for _ in range(steps):
        ctl.observe_speculative(tokens, seconds)
        ctl.update(drafted=4, accepted=tokens - 1)


@pytest.mark.parametrize(
    ("spec_seconds", "active"),
    [(0.030, False), (0.015, True)],  # 2 tokens in 30 ms (67/s) or 15 ms (133/s) vs 100/s plain
)
def test_gamma_controller_keeps_speculation_only_while_it_is_faster(
    spec_seconds: float, active: bool
) -> None:
    ctl = GammaController(gamma=4, warmup_steps=3, probe_steps=2, min_tokens_per_step=1.0)
    _warm(ctl, 3, tokens=2, seconds=spec_seconds)
    assert ctl.active and ctl.wants_plain_probe  # warm-up done: time the baseline
    ctl.observe_plain(0.010)
    assert ctl.active and ctl.wants_plain_probe  # one more probe before judging
    ctl.observe_plain(0.010)
    assert not ctl.wants_plain_probe
    assert ctl.active  # judged on steps at the chosen length, after the warm-up
    _warm(ctl, ctl.min_judged, tokens=2, seconds=spec_seconds)
    assert ctl.active is active
    if not active:
        assert ctl.disabled_reason is not None and "tokens/s" in ctl.disabled_reason


def test_a_slow_warm_up_does_not_condemn_a_drafter_that_pays_at_its_chosen_length() -> None:
    """Long exploratory drafts can lose while the chosen γ wins: only the latter is judged."""
    ctl = GammaController(gamma=4, warmup_steps=3, probe_steps=1, min_tokens_per_step=1.0)
    _warm(ctl, 3, tokens=2, seconds=0.050)  # 40 tokens/s while exploring
    ctl.observe_plain(0.010)  # 100 tokens/s plain
    _warm(ctl, ctl.judge_window, tokens=2, seconds=0.015)  # 133 tokens/s at the chosen γ
    assert ctl.active
    _warm(ctl, ctl.judge_window, tokens=2, seconds=0.030)  # the text turns hard: 67 tokens/s
    assert not ctl.active and "tokens/s" in (ctl.disabled_reason or "")


def test_gamma_controller_ignores_the_first_step_and_untimed_requests() -> None:
    ctl = GammaController(gamma=4, warmup_steps=1, probe_steps=1)
    ctl.observe_speculative(2, 5.0)  # a one-off first call: not counted
    ctl.update(drafted=4, accepted=1)
    assert ctl.spec_seconds == 0.0 and not ctl.wants_plain_probe
    batched = GammaController(gamma=4, warmup_steps=1)
    batched.update(drafted=4, accepted=3)  # in a batch: never timed, never probed
    assert batched.active and not batched.wants_plain_probe


def test_gamma_follows_acceptance_and_the_cost_of_a_row() -> None:
    good = GammaController(gamma=4, gamma_max=8, drafted=100, accepted=95)
    poor = GammaController(gamma=4, gamma_max=8, drafted=100, accepted=30)
    assert good.best_gamma() >= 4 and poor.best_gamma() == 1
    free_rows = GammaController(gamma=4, gamma_max=8, drafted=100, accepted=60, row_cost=0.05)
    assert free_rows.best_gamma() > GammaController(drafted=100, accepted=60).best_gamma()


def test_row_cost_is_measured_from_the_request_timing() -> None:
    ctl = GammaController(gamma=4, warmup_steps=1, probe_steps=1)
    assert ctl.measured_row_cost() == ctl.row_cost  # nothing timed yet: the prior
    ctl.update(drafted=4, accepted=3)  # step 1 (the first timed step is skipped)
    ctl.observe_speculative(4, 0.020, drafted=4)  # 2 plain steps' time for 4 drafted rows
    ctl.observe_plain(0.010)
    assert ctl.measured_row_cost() == pytest.approx(0.25)
