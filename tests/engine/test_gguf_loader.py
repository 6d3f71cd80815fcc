"""GGUF files written with ``gguf.GGUFWriter`` load and match the dequantized reference."""

from __future__ import annotations

import pathlib
from typing import Any

import gguf
import numpy as np
import pytest
import torch

from engine import ModelLoadError, UnsupportedModelError
from engine.kv_cache import KVCache
from engine.loader import load_model
from tests.engine._reference_models import hf_logits, make_hf_model

# The loader is checked against dequantized fp32 references: exact activations.
pytestmark = pytest.mark.usefixtures("fp32_activations")

pytest.importorskip("transformers")

IDS = [5, 17, 200, 3, 99, 42, 7, 150]
_BYTES = [chr(c) for c in range(33, 127)] + [chr(c) for c in range(161, 256) if c != 173]


def _byte_vocab(n: int) -> list[str]:
    """A byte-level BPE vocabulary (256 byte symbols, then filler tokens) of size n."""
    alphabet = _BYTES + [chr(c) for c in (*range(256, 256 + 68),)]
    return alphabet[:256] + [f"<extra_{i}>" for i in range(n - 256)]


def _permute(w: np.ndarray, heads: int) -> np.ndarray:
    """llama.cpp's Q/K row order (what convert_hf_to_gguf.py writes)."""
    n = w.shape[0]
    return w.reshape(heads, 2, n // heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def _quantize(w: np.ndarray, qtype: gguf.GGMLQuantizationType) -> tuple[np.ndarray, np.ndarray]:
    """(stored array, its dequantized float value)."""
    if qtype == gguf.GGMLQuantizationType.F32 or w.ndim == 1:
        return w.astype(np.float32), w.astype(np.float32)
    q = gguf.quants.quantize(w.astype(np.float32), qtype)
    return q, gguf.quants.dequantize(q, qtype).reshape(w.shape)


_NAMES = {
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
    "input_layernorm": "attn_norm",
    "post_attention_layernorm": "ffn_norm",
}


def _gguf_name(hf: str) -> str:
    if hf.startswith("model.layers."):
        _, _, i, rest = hf.split(".", 3)
        mod, kind = rest.rsplit(".", 1)
        return f"blk.{i}.{_NAMES[mod]}.{kind}"
    return {
        "model.embed_tokens.weight": "token_embd.weight",
        "model.norm.weight": "output_norm.weight",
        "lm_head.weight": "output.weight",
    }[hf]


def write_gguf(path: pathlib.Path, model: Any, qtype: gguf.GGMLQuantizationType) -> None:
    """Write ``model`` as a llama GGUF, replacing its weights by their dequantized values."""
    c = model.config
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_block_count(c.num_hidden_layers)
    w.add_context_length(c.max_position_embeddings)
    w.add_embedding_length(c.hidden_size)
    w.add_feed_forward_length(c.intermediate_size)
    w.add_head_count(c.num_attention_heads)
    w.add_head_count_kv(c.num_key_value_heads)
    w.add_layer_norm_rms_eps(c.rms_norm_eps)
    w.add_rope_freq_base(10000.0)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("default")
    vocab = _byte_vocab(c.vocab_size)
    w.add_token_list(vocab)
    w.add_token_types([1] * len(vocab))
    w.add_token_merges([])
    w.add_eos_token_id(c.vocab_size - 1)
    w.add_chat_template("{% for m in messages %}{{ m['content'] }}{% endfor %}")
    state = model.state_dict()
    with torch.no_grad():
        for name, t in state.items():
            if name == "lm_head.weight" and c.tie_word_embeddings:
                continue
            arr = t.numpy()
            heads = {"q_proj": c.num_attention_heads, "k_proj": c.num_key_value_heads}
            h = next((v for k, v in heads.items() if k in name), None)
            stored, deq = _quantize(_permute(arr, h) if h else arr, qtype)
            t.copy_(torch.from_numpy(_permute_back(deq, h) if h else deq))
            w.add_tensor(
                _gguf_name(name), stored, raw_dtype=qtype if stored.dtype == np.uint8 else None
            )
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def _permute_back(w: np.ndarray, heads: int) -> np.ndarray:
    n = w.shape[0]
    return w.reshape(heads, n // heads // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Index these throwaway files in a private dir (not the env var: the kernels use it too)."""
    root = tmp_path / "cache"
    root.mkdir()
    monkeypatch.setattr("engine.loader._gguf.cache_dir", lambda: root)


@pytest.mark.parametrize(
    ("qtype", "tied"),
    [
        (gguf.GGMLQuantizationType.F32, False),
        (gguf.GGMLQuantizationType.Q8_0, True),
        (gguf.GGMLQuantizationType.Q4_1, False),
        (gguf.GGMLQuantizationType.Q4_0, True),
    ],
)
def test_gguf_matches_dequantized_reference(
    tmp_path: pathlib.Path, qtype: gguf.GGMLQuantizationType, tied: bool
) -> None:
    hf = make_hf_model(tie_word_embeddings=tied)
    path = tmp_path / "m.gguf"
    write_gguf(path, hf, qtype)
    ref = hf_logits(hf, IDS)
    for _ in range(2):  # the second load reads the cached index
        loaded = load_model(path, 64)
        m, c = loaded.model, loaded.config
        cache = KVCache(c.n_layers, 1, c.n_kv_heads, 64, c.head_dim)
        got = m.forward(torch.tensor(IDS), torch.zeros(8, dtype=torch.long), torch.arange(8), cache)
        assert (got - ref).abs().max() < 1e-4
    assert loaded.config.tie_embeddings is tied
    assert loaded.tokenizer.decode(loaded.tokenizer.encode("hi there").ids) == "hi there"


def test_bad_files_raise_typed_errors(tmp_path: pathlib.Path) -> None:
    with pytest.raises(ModelLoadError):
        load_model(tmp_path / "missing.gguf")
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a gguf at all" * 100)
    with pytest.raises(ModelLoadError, match="not a GGUF"):
        load_model(junk)
    good = tmp_path / "good.gguf"
    write_gguf(good, make_hf_model(), gguf.GGMLQuantizationType.Q8_0)
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ModelLoadError):
        load_model(cut)


def test_unsupported_architecture(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "x.gguf"
    w = gguf.GGUFWriter(str(path), "mamba")
    w.add_tensor("x", np.zeros(4, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    with pytest.raises(UnsupportedModelError, match="mamba"):
        load_model(path)


@pytest.mark.parametrize("qtype", [gguf.GGMLQuantizationType.Q4_1, gguf.GGMLQuantizationType.Q8_0])
def test_interleaved_copies_are_cached_and_mapped(
    tmp_path: pathlib.Path, qtype: gguf.GGMLQuantizationType
) -> None:
    """The first load packs and caches each matrix's 8-row copy; the next one maps it."""
    from engine import kernels
    from engine.kernels._pack import pack_rows8

    if kernels.backend() != "cpp":
        pytest.skip("only the C++ backend reads interleaved copies")
    path = tmp_path / "m.gguf"
    write_gguf(path, make_hf_model(tie_word_embeddings=True), qtype)
    first, second = load_model(path, 64).model, load_model(path, 64).model

    def matrices(m: Any) -> list[Any]:
        return [m.head] + [w for lw in m.layers for w in (lw.wqkv, lw.wo, lw.w_gate_up, lw.w_down)]

    for a, b in zip(matrices(first), matrices(second), strict=True):
        assert a.packed is not None and b.packed is not None
        assert torch.equal(a.packed, b.packed)
        assert torch.equal(b.packed, pack_rows8(b))  # the mapped copy matches the mapped blocks
    kernels.set_act_quant(True)  # the path that reads the copies (the fixture restores it)
    rows = (torch.tensor(IDS), torch.zeros(8, dtype=torch.long), torch.arange(8))
    logits = []
    for m in (first, second):
        c = m.config
        logits.append(m.forward(*rows, KVCache(c.n_layers, 1, c.n_kv_heads, 64, c.head_dim)))
    assert torch.equal(logits[0], logits[1])
