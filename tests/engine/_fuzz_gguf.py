"""Hypothesis strategies that break the tiny model, and the writers that apply them.

A mutation is plain data (a tuple naming what to change), so hypothesis can
shrink it and a failure prints what was done. `mutated_gguf` applies GGUF
mutations to a fresh `tiny_spec`; `mutated_hf_folder` applies HF ones to a
fresh `tiny_hf_folder`. Each call writes new files (a file still mapped by an
earlier model is never rewritten in place).
"""

from __future__ import annotations

import itertools
import json
import math
import pathlib
import shutil
import struct
from typing import Any

from hypothesis import strategies as st

from tests.engine._tiny_gguf import (
    ARR,
    BOOL,
    F32,
    F64,
    I8,
    I16,
    I32,
    I64,
    STR,
    T_F32,
    T_Q4_1,
    T_Q5_0,
    T_Q8_0,
    U8,
    U16,
    U32,
    U64,
    HFParts,
    Spec,
    Tensor,
    serialize_fields,
    tiny_hf_folder,
    tiny_spec,
    tokenizer_json,
)

# values at the edges: zero, the model's own sizes, off-by-one, powers of two, type limits
EDGE_INTS = [0, 1, 2, 3, 31, 32, 33, 63, 64, 65, 128, 255, 256, 259, 260, 261, 4096, 65535,
             (1 << 31) - 1, 1 << 31, (1 << 32) - 1, 1 << 32, 1 << 40, (1 << 63) - 1]  # fmt: skip
EDGE_FLOATS = [0.0, -0.0, 1e-45, 1e-5, 0.5, 1.0, 1e4, 1e30, 3.4e38, -1.0,
               math.nan, math.inf, -math.inf]  # fmt: skip
_RANGES = {U8: (0, 255), I8: (-128, 127), U16: (0, 65535), I16: (-32768, 32767),
           U32: (0, (1 << 32) - 1), I32: (-(1 << 31), (1 << 31) - 1),
           U64: (0, (1 << 64) - 1), I64: (-(1 << 63), (1 << 63) - 1)}  # fmt: skip
KEYS = [
    "general.architecture", "llama.block_count", "llama.context_length",
    "llama.embedding_length", "llama.feed_forward_length", "llama.attention.head_count",
    "llama.attention.head_count_kv", "llama.attention.layer_norm_rms_epsilon",
    "llama.rope.freq_base", "llama.vocab_size", "llama.attention.key_length",
    "llama.rope.scaling.type", "llama.rope.scaling.factor", "tokenizer.ggml.model",
    "tokenizer.ggml.pre", "tokenizer.ggml.tokens", "tokenizer.ggml.token_type",
    "tokenizer.ggml.merges", "tokenizer.ggml.eos_token_id", "tokenizer.ggml.bos_token_id",
    "tokenizer.ggml.add_bos_token", "tokenizer.chat_template", "general.alignment",
]  # fmt: skip
QTYPES = [0, 1, 2, 3, 6, 7, 8, 10, 12, 14, 16, 20, 26, 30, 39, 99, (1 << 31) + 8]
NAMES = ["blk.1.attn_norm.weight", "blk.-1.attn_q.weight", "token_embd.weight", "",
         "blk.99999999999999999999.attn_q.weight", "output.weight", "rope_freqs.weight",
         "blk.0.attn_qkv.weight", "blk.0.ffn_down.weight@x8"]  # fmt: skip
_counter = itertools.count()


def _int_value(vtype: int) -> st.SearchStrategy[tuple[int, Any]]:
    lo, hi = _RANGES[vtype]
    edges = [v for v in [*EDGE_INTS, -1, -64, lo, hi] if lo <= v <= hi]
    return st.sampled_from(edges).map(lambda v: (vtype, v))


def kv_value() -> st.SearchStrategy[tuple[int, Any]]:
    """A metadata ``(type, value)``: any type, values at the edges."""
    text = st.text(max_size=8)
    return st.one_of(
        st.sampled_from(list(_RANGES)).flatmap(_int_value),
        st.sampled_from(EDGE_FLOATS).map(lambda v: (F32, v)),
        st.sampled_from(EDGE_FLOATS).map(lambda v: (F64, v)),
        st.booleans().map(lambda v: (BOOL, v)),
        st.one_of(text, st.sampled_from(["llama", "gpt2", "linear", "{% for %}"])).map(
            lambda v: (STR, v)
        ),
        st.lists(st.sampled_from(EDGE_INTS[:12]), max_size=4).map(lambda v: (ARR, (U32, v))),
        st.lists(text, max_size=4).map(lambda v: (ARR, (STR, v))),
        st.lists(st.sampled_from(EDGE_FLOATS), max_size=4).map(lambda v: (ARR, (F32, v))),
    )


def _one_gguf_change() -> st.SearchStrategy[tuple[Any, ...]]:
    tensor = st.integers(0, 12)
    dims = st.lists(st.sampled_from([0, 1, 2, 16, 31, 32, 64, 65, 96, 128, 259, 260, 261, 1 << 33]),
                    max_size=3)  # fmt: skip
    return st.one_of(
        st.tuples(st.just("kv_set"), st.sampled_from(KEYS), kv_value()),
        st.tuples(st.just("kv_drop"), st.sampled_from(KEYS)),
        st.tuples(st.just("shape"), tensor, dims),
        st.tuples(st.just("qtype"), tensor, st.sampled_from(QTYPES)),
        st.tuples(st.just("data"), tensor, st.sampled_from([0.0, 0.5, 0.99, 1.01, 2.0])),
        st.tuples(st.just("rename"), tensor, st.sampled_from(NAMES)),
        st.tuples(st.just("drop_tensor"), tensor),
        st.tuples(
            st.just("header"),
            st.sampled_from(["version", "tensors", "kv"]),
            st.sampled_from([-1, 0, 1, 2, 4, 1 << 20, 1 << 40]),
        ),
    )


def _base() -> st.SearchStrategy[tuple[int, bool]]:
    return st.tuples(st.sampled_from([T_Q8_0, T_F32, T_Q5_0, T_Q4_1]), st.booleans())


def gguf_mutation() -> st.SearchStrategy[tuple[Any, ...]]:
    """One to three structural changes to a GGUF, then maybe a truncation."""
    cut = st.one_of(st.none(), st.floats(0.0, 1.0))
    changes = st.lists(_one_gguf_change(), min_size=1, max_size=3)
    return st.tuples(st.just("spec"), _base(), changes, cut)


def raw_gguf_mutation() -> st.SearchStrategy[tuple[Any, ...]]:
    """Integer fields (counts, lengths, types, dims, offsets) or header bytes overwritten."""
    field = st.tuples(st.integers(0, 10**6), st.sampled_from([*EDGE_INTS, -1]))
    byte = st.tuples(st.integers(0, 10**6), st.integers(0, 255))
    return st.tuples(
        st.just("raw"), _base(), st.lists(field, max_size=3), st.lists(byte, max_size=3)
    )


def _apply(spec: Spec, change: tuple[Any, ...]) -> None:
    kind = change[0]
    if kind == "kv_set":
        spec.set(change[1], *change[2])
    elif kind == "kv_drop":
        spec.drop(change[1])
    elif kind == "header":
        if change[1] == "version":
            spec.version = change[2] % (1 << 32)
        elif change[1] == "tensors":
            spec.extra_tensor_count = change[2]
        else:
            spec.extra_kv_count = change[2]
    else:
        i = change[1] % len(spec.tensors)
        t = spec.tensors[i]
        if kind == "drop_tensor":
            del spec.tensors[i]
        elif kind == "shape":
            spec.tensors[i] = Tensor(t.name, change[2], t.qtype, t.data)
        elif kind == "qtype":
            spec.tensors[i] = Tensor(t.name, t.shape, change[2], t.data)
        elif kind == "data":
            spec.tensors[i] = Tensor(
                t.name, t.shape, t.qtype, (t.data * 3)[: int(len(t.data) * change[2])]
            )
        elif kind == "rename":
            spec.tensors[i] = Tensor(change[2], t.shape, t.qtype, t.data)


def _gguf_bytes(mutation: tuple[Any, ...]) -> bytes:
    (qtype, tied) = mutation[1]
    spec = tiny_spec(qtype, tied)
    if mutation[0] == "spec":
        for change in mutation[2]:
            _apply(spec, change)
        if any(c[0] == "header" and c[1] != "version" and c[2] < 0 for c in mutation[2]):
            spec.extra_tensor_count = max(spec.extra_tensor_count, -len(spec.tensors))
            spec.extra_kv_count = max(spec.extra_kv_count, -len(spec.kv))
        data, _, _ = serialize_fields(spec)
        cut = mutation[3]
        return data if cut is None else data[: int(len(data) * cut)]
    data, fields, start = serialize_fields(spec)
    out = bytearray(data)
    for which, value in mutation[2]:
        at, width = fields[which % len(fields)]
        out[at : at + width] = (value % (1 << (8 * width))).to_bytes(width, "little")
    for at, value in mutation[3]:
        out[at % start] = value
    return bytes(out)


def _fresh(workdir: pathlib.Path, suffix: str) -> pathlib.Path:
    """A new path in ``workdir``, deleting the one before last (models may still map it)."""
    n = next(_counter)
    old = workdir / f"case{n - 2}{suffix}"
    if old.is_dir():
        shutil.rmtree(old)
    old.unlink(missing_ok=True)
    return workdir / f"case{n}{suffix}"


def mutated_gguf(workdir: pathlib.Path, mutation: tuple[Any, ...]) -> pathlib.Path:
    """Write the GGUF ``mutation`` describes; its path."""
    path = _fresh(workdir, ".gguf")
    path.write_bytes(_gguf_bytes(mutation))
    return path


# ---- Hugging Face folders: config.json values, the safetensors header, the tokenizer ----

CONFIG_KEYS = ["model_type", "vocab_size", "hidden_size", "intermediate_size",
               "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "head_dim",
               "max_position_embeddings", "rms_norm_eps", "rope_theta", "rope_scaling",
               "tie_word_embeddings", "eos_token_id", "bos_token_id", "attention_bias"]  # fmt: skip
_JSON_LEAF = st.one_of(
    st.none(), st.booleans(), st.sampled_from([*EDGE_INTS, -1]), st.sampled_from(EDGE_FLOATS),
    st.sampled_from(["llama", "qwen2", "linear", "llama3", ""]),
)  # fmt: skip
JSON_VALUE = st.recursive(
    _JSON_LEAF,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(
            st.sampled_from(
                [
                    "rope_type",
                    "type",
                    "factor",
                    "low_freq_factor",
                    "high_freq_factor",
                    "original_max_position_embeddings",
                    "rope_theta",
                ]
            ),
            inner,
            max_size=4,
        ),
    ),
    max_leaves=6,
)
ST_NAMES = ["model.embed_tokens.weight", "lm_head.weight", "model.norm.weight",
            "model.layers.0.self_attn.q_proj.weight", "model.layers.0.mlp.down_proj.weight",
            "model.layers.0.input_layernorm.weight"]  # fmt: skip
ST_DTYPES = ["F32", "F16", "BF16", "F64", "I64", "I32", "U8", "BOOL", "F8_E4M3", "XX", 7]


def _one_hf_change() -> st.SearchStrategy[tuple[Any, ...]]:
    name = st.sampled_from(ST_NAMES)
    small = st.sampled_from([0, 1, 2, 63, 64, 65, 128, 260, 1 << 40, -1])
    return st.one_of(
        st.tuples(st.just("config_set"), st.sampled_from(CONFIG_KEYS), JSON_VALUE),
        st.tuples(st.just("config_drop"), st.sampled_from(CONFIG_KEYS)),
        st.tuples(st.just("st_dtype"), name, st.sampled_from(ST_DTYPES)),
        st.tuples(st.just("st_shape"), name, st.lists(small, max_size=3)),
        st.tuples(st.just("st_offsets"), name, st.lists(small, max_size=3)),
        st.tuples(st.just("st_drop"), name),
        st.tuples(st.just("header_len"), st.sampled_from(EDGE_INTS)),
        st.tuples(st.just("truncate"), st.floats(0.0, 1.0)),
        st.tuples(st.just("tokenizer"), st.sampled_from(["{}", "", "[1, 2]", "big"])),
    )


def hf_mutation() -> st.SearchStrategy[tuple[Any, ...]]:
    """One to three changes to the tiny model's HF folder."""
    return st.lists(_one_hf_change(), min_size=1, max_size=3).map(lambda cs: ("hf", *cs))


def _edit_safetensors(path: pathlib.Path, change: tuple[Any, ...]) -> None:
    data = path.read_bytes()
    kind = change[0]
    if kind == "header_len":
        path.write_bytes(struct.pack("<Q", change[1] % (1 << 64)) + data[8:])
        return
    if kind == "truncate":
        path.write_bytes(data[: int(len(data) * change[1])])
        return
    try:
        (n,) = struct.unpack("<Q", data[:8])
        header = json.loads(data[8 : 8 + n])
        entry = header.get(change[1])
    except (ValueError, AttributeError, struct.error):  # an earlier change broke the header
        return
    if kind == "st_drop":
        header.pop(change[1], None)
    elif isinstance(entry, dict):
        key = {"st_dtype": "dtype", "st_shape": "shape", "st_offsets": "data_offsets"}[kind]
        entry[key] = change[2]
    text = json.dumps(header).encode()
    text += b" " * ((-len(text)) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + data[8 + n :])


def mutated_hf_folder(workdir: pathlib.Path, mutation: tuple[Any, ...]) -> pathlib.Path:
    """Write the HF folder ``mutation`` describes; its path."""
    parts = HFParts()
    for change in mutation[1:]:
        if change[0] == "config_set":
            parts.config[change[1]] = change[2]
        elif change[0] == "config_drop":
            parts.config.pop(change[1], None)
        elif change[0] == "tokenizer":
            parts.tokenizer = tokenizer_json(300) if change[1] == "big" else change[1]
    folder = tiny_hf_folder(_fresh(workdir, ".hf"), parts)
    for change in mutation[1:]:
        if change[0] in ("st_dtype", "st_shape", "st_offsets", "st_drop", "header_len", "truncate"):
            _edit_safetensors(folder / "model.safetensors", change)
    return folder
