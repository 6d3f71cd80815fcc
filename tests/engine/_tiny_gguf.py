"""A tiny llama GGUF written byte by byte, so that tests can break any part of it.

`tiny_spec` describes a one-block model (V=260, D=64, 2 heads of 32, 1 KV head,
F=64) as plain data: metadata entries ``(key, value type, value)`` and tensors
``(name, torch shape, ggml type, bytes)``. Tests edit the spec (a wrong
shape, a missing key, a NaN) and `serialize` it: unlike ``gguf.GGUFWriter``,
nothing here refuses an inconsistent file. `tiny_hf_folder` writes the same
model as a Hugging Face folder (config.json, safetensors, tokenizer.json).
"""

from __future__ import annotations

import json
import pathlib
import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# GGUF metadata value types
U8, I8, U16, I16, U32, I32, F32, BOOL, STR, ARR, U64, I64, F64 = range(13)
_SCALAR = {U8: "<B", I8: "<b", U16: "<H", I16: "<h", U32: "<I", I32: "<i", F32: "<f",
           BOOL: "<?", U64: "<Q", I64: "<q", F64: "<d"}  # fmt: skip
# ggml tensor types used here
T_F32, T_F16, T_Q4_0, T_Q4_1, T_Q5_0, T_Q8_0 = 0, 1, 2, 3, 6, 8

V, D, H, KV, DH, F = 260, 64, 2, 1, 32, 64
ALIGN = 32


@dataclass
class Tensor:
    """One tensor: GGUF name, torch-order shape, ggml type and raw bytes."""

    name: str
    shape: list[int]
    qtype: int
    data: bytes


@dataclass
class Spec:
    """A whole GGUF file as editable data."""

    kv: list[tuple[str, int, Any]]
    tensors: list[Tensor]
    magic: bytes = b"GGUF"
    version: int = 3
    extra_tensor_count: int = 0  # added to the header's count (a lying header)
    extra_kv_count: int = 0

    def set(self, key: str, vtype: int, value: Any) -> Spec:
        """Set (or add) metadata ``key``."""
        self.kv = [e for e in self.kv if e[0] != key] + [(key, vtype, value)]
        return self

    def drop(self, key: str) -> Spec:
        """Remove metadata ``key``."""
        self.kv = [e for e in self.kv if e[0] != key]
        return self

    def tensor(self, name: str) -> Tensor:
        """The tensor called ``name``."""
        return next(t for t in self.tensors if t.name == name)


class _Out:
    """GGUF bytes being written, with the place and width of every integer field."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.fields: list[tuple[int, int]] = []  # (offset, bytes) of counts, types, dims...

    def num(self, fmt: str, value: Any) -> None:
        self.fields.append((len(self.data), struct.calcsize(fmt)))
        self.data += struct.pack(fmt, value)

    def string(self, s: str | bytes) -> None:
        b = s.encode() if isinstance(s, str) else s
        self.num("<Q", len(b))
        self.data += b

    def value(self, vtype: int, value: Any) -> None:
        if vtype == STR:
            self.string(value)
        elif vtype == ARR:
            sub, items = value
            self.num("<I", sub)
            self.num("<Q", len(items))
            for v in items:
                self.value(sub, v)
        else:
            self.data += struct.pack(_SCALAR[vtype], value)


def serialize_fields(spec: Spec) -> tuple[bytes, list[tuple[int, int]], int]:
    """``(file bytes, integer fields as (offset, width), where the tensor data starts)``."""
    out = _Out()
    out.data += spec.magic
    out.num("<I", spec.version)
    out.num("<Q", len(spec.tensors) + spec.extra_tensor_count)
    out.num("<Q", len(spec.kv) + spec.extra_kv_count)
    for key, vtype, value in spec.kv:
        out.string(key)
        out.num("<I", vtype)
        out.value(vtype, value)
    offset = 0
    for t in spec.tensors:
        dims = list(reversed(t.shape))  # torch (N, K) -> ggml (K, N)
        out.string(t.name)
        out.num("<I", len(dims))
        for d in dims:
            out.num("<Q", d)
        out.num("<I", t.qtype)
        out.num("<Q", offset)
        offset += len(t.data) + (-len(t.data)) % ALIGN
    out.data += b"\0" * ((-len(out.data)) % ALIGN)
    start = len(out.data)
    for t in spec.tensors:
        out.data += t.data + b"\0" * ((-len(t.data)) % ALIGN)
    return bytes(out.data), out.fields, start


def serialize(spec: Spec) -> bytes:
    """The GGUF bytes of ``spec`` (version 3 layout, 32-byte alignment)."""
    return serialize_fields(spec)[0]


def byte_vocab(n: int) -> list[str]:
    """A byte-level BPE vocabulary: the 256 byte symbols, then filler tokens."""
    alphabet = [chr(c) for c in range(33, 127)] + [chr(c) for c in range(161, 256) if c != 173]
    alphabet += [chr(c) for c in range(256, 324)]
    return alphabet[:256] + [f"<extra_{i}>" for i in range(n - 256)]


def _encode(w: np.ndarray, qtype: int) -> bytes:
    import gguf

    if qtype == T_F32 or w.ndim == 1:
        return w.astype(np.float32).tobytes()
    if qtype == T_F16:
        return w.astype(np.float16).tobytes()
    return bytes(gguf.quants.quantize(w.astype(np.float32), gguf.GGMLQuantizationType(qtype)))


def tiny_weights(tied: bool = False, seed: int = 0) -> dict[str, np.ndarray]:
    """The model's float weights by GGUF name (torch-order shapes)."""
    rng = np.random.default_rng(seed)
    shapes = {"token_embd.weight": (V, D), "output_norm.weight": (D,)}
    if not tied:
        shapes["output.weight"] = (V, D)
    shapes |= {"blk.0.attn_norm.weight": (D,), "blk.0.ffn_norm.weight": (D,),
               "blk.0.attn_q.weight": (H * DH, D), "blk.0.attn_k.weight": (KV * DH, D),
               "blk.0.attn_v.weight": (KV * DH, D), "blk.0.attn_output.weight": (D, H * DH),
               "blk.0.ffn_gate.weight": (F, D), "blk.0.ffn_up.weight": (F, D),
               "blk.0.ffn_down.weight": (D, F)}  # fmt: skip
    return {n: rng.normal(0, 0.1, s).astype(np.float32) for n, s in shapes.items()}


def tiny_spec(qtype: int = T_Q8_0, tied: bool = False, seed: int = 0) -> Spec:
    """The tiny model's GGUF: matrices in ``qtype``, vectors in F32."""
    vocab = byte_vocab(V)
    kv: list[tuple[str, int, Any]] = [
        ("general.architecture", STR, "llama"),
        ("llama.block_count", U32, 1),
        ("llama.context_length", U32, 128),
        ("llama.embedding_length", U32, D),
        ("llama.feed_forward_length", U32, F),
        ("llama.attention.head_count", U32, H),
        ("llama.attention.head_count_kv", U32, KV),
        ("llama.attention.layer_norm_rms_epsilon", F32, 1e-5),
        ("llama.rope.freq_base", F32, 10000.0),
        ("tokenizer.ggml.model", STR, "gpt2"),
        ("tokenizer.ggml.pre", STR, "default"),
        ("tokenizer.ggml.tokens", ARR, (STR, vocab)),
        ("tokenizer.ggml.token_type", ARR, (I32, [1] * V)),
        ("tokenizer.ggml.eos_token_id", U32, V - 1),
        ("tokenizer.chat_template", STR, "{% for m in messages %}{{ m['content'] }}{% endfor %}"),
    ]
    tensors = [
        Tensor(name, list(w.shape), T_F32 if w.ndim == 1 else qtype, _encode(w, qtype))
        for name, w in tiny_weights(tied, seed).items()
    ]
    return Spec(kv, tensors)


def write_spec(path: pathlib.Path, spec: Spec) -> pathlib.Path:
    """Serialize ``spec`` to ``path``."""
    path.write_bytes(serialize(spec))
    return path


_HF_NAMES = {
    "token_embd.weight": "model.embed_tokens.weight",
    "output_norm.weight": "model.norm.weight",
    "output.weight": "lm_head.weight",
    "blk.0.attn_norm.weight": "model.layers.0.input_layernorm.weight",
    "blk.0.ffn_norm.weight": "model.layers.0.post_attention_layernorm.weight",
    "blk.0.attn_q.weight": "model.layers.0.self_attn.q_proj.weight",
    "blk.0.attn_k.weight": "model.layers.0.self_attn.k_proj.weight",
    "blk.0.attn_v.weight": "model.layers.0.self_attn.v_proj.weight",
    "blk.0.attn_output.weight": "model.layers.0.self_attn.o_proj.weight",
    "blk.0.ffn_gate.weight": "model.layers.0.mlp.gate_proj.weight",
    "blk.0.ffn_up.weight": "model.layers.0.mlp.up_proj.weight",
    "blk.0.ffn_down.weight": "model.layers.0.mlp.down_proj.weight",
}


def hf_config() -> dict[str, Any]:
    """The tiny model's ``config.json``."""
    return {
        "model_type": "llama", "vocab_size": V, "hidden_size": D, "intermediate_size": F,
        "num_hidden_layers": 1, "num_attention_heads": H, "num_key_value_heads": KV,
        "max_position_embeddings": 128, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
        "tie_word_embeddings": False, "eos_token_id": V - 1,
    }  # fmt: skip


def tokenizer_json(n: int = V) -> str:
    """A byte-level BPE ``tokenizer.json`` of ``n`` tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    vocab = {t: i for i, t in enumerate(byte_vocab(n))}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    return str(tok.to_str())


@dataclass
class HFParts:
    """What `tiny_hf_folder` writes; tests edit it first."""

    config: dict[str, Any] = field(default_factory=hf_config)
    weights: dict[str, np.ndarray] = field(default_factory=tiny_weights)
    tokenizer: str = field(default_factory=tokenizer_json)


def tiny_hf_folder(path: pathlib.Path, parts: HFParts | None = None) -> pathlib.Path:
    """Write the tiny model as an HF folder at ``path``."""
    import torch
    from safetensors.torch import save_file

    parts = parts or HFParts()
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(json.dumps(parts.config))
    (path / "tokenizer.json").write_text(parts.tokenizer)
    tensors = {_HF_NAMES.get(k, k): torch.from_numpy(v) for k, v in parts.weights.items()}
    save_file(tensors, str(path / "model.safetensors"))
    return path
