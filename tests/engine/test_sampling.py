"""Sampling: greedy, temperature, top-k/top-p, penalty, seeds, validation."""

from __future__ import annotations

import math

import pytest
import torch

from engine import InvalidSamplingError, SamplingParams
from engine.sampling import apply_repetition_penalty, make_generator, sample


def test_greedy_and_logprob() -> None:
    logits = torch.tensor([0.0, 3.0, 1.0, -2.0])
    tok, lp = sample(logits, SamplingParams())
    assert tok == 1
    assert math.isclose(lp, float(logits.log_softmax(-1)[1]), rel_tol=1e-6)


def test_top_k_one_and_tiny_top_p_are_greedy() -> None:
    logits = torch.randn(1000, generator=torch.Generator().manual_seed(0))
    best = int(logits.argmax())
    g = make_generator(1)
    for _ in range(20):
        assert sample(logits, SamplingParams(temperature=1.5, top_k=1), g)[0] == best
        assert sample(logits, SamplingParams(temperature=1.5, top_p=1e-6), g)[0] == best


def test_seeded_sampling_is_reproducible_and_spread() -> None:
    logits = torch.zeros(50)
    p = SamplingParams(temperature=1.0, seed=7)
    a = [sample(logits, p, make_generator(7))[0] for _ in range(1)]
    g1, g2 = make_generator(7), make_generator(7)
    a = [sample(logits, p, g1)[0] for _ in range(30)]
    b = [sample(logits, p, g2)[0] for _ in range(30)]
    assert a == b and len(set(a)) > 5


def test_top_p_keeps_the_nucleus() -> None:
    logits = torch.log(torch.tensor([0.5, 0.3, 0.15, 0.05]))
    g = make_generator(0)
    picks = {sample(logits, SamplingParams(temperature=1.0, top_p=0.7), g)[0] for _ in range(200)}
    assert picks == {0, 1}


def test_repetition_penalty() -> None:
    logits = torch.tensor([2.0, -2.0, 1.0])
    out = apply_repetition_penalty(logits, torch.tensor([0, 1]), 2.0)
    assert out.tolist() == [1.0, -4.0, 1.0]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"temperature": -1.0}, "temperature"),
        ({"top_p": 0.0}, "top_p"),
        ({"top_k": -1}, "top_k"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"repetition_penalty": 0.0}, "repetition_penalty"),
        ({"stop": ("",)}, "stop"),
    ],
)
def test_invalid_params_raise_typed_error(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidSamplingError) as e:
        SamplingParams(**kwargs)  # type: ignore[arg-type]
    assert e.value.field == field


@pytest.mark.parametrize("case", ["plain", "ties", "masked", "vocab_not_multiple_of_8"])
def test_greedy_matches_torch_argmax_and_log_softmax(case: str) -> None:
    """The C++ greedy pick (when built) must choose exactly torch's token: the first maximum."""
    g = torch.Generator().manual_seed(3)
    n = 49_157 if case == "vocab_not_multiple_of_8" else 49_152
    for _ in range(20):
        x = torch.randn(n, generator=g) * 6
        if case == "ties":
            x[torch.randint(0, n, (4,), generator=g)] = x.max() + 1  # several equal maxima
        if case == "masked":
            x[torch.rand(n, generator=g) < 0.9] = float("-inf")  # a constraint's mask
        token, logprob = sample(x, SamplingParams())
        assert token == int(torch.argmax(x))
        assert logprob == pytest.approx(float(x[token] - torch.logsumexp(x, -1)), abs=1e-4)


def test_greedy_over_all_masked_logits_falls_back_to_torch() -> None:
    x = torch.full((64,), float("-inf"))
    assert sample(x, SamplingParams())[0] == int(torch.argmax(x))
