"""GGUF loading: a cached index of the file, then zero-copy views of its tensors.

Parsing a GGUF with ``gguf.GGUFReader`` takes seconds (it materialises every
metadata array), so the first load writes an index (config, tokenizer, chat
template, tensor offsets) to the disk cache; later loads read that index and
memory-map the file. Tensors in formats the kernels run (F32, Q8_0, Q4_0,
Q4_1) are used in place; F16/BF16 are expanded to f32; every other type (Q4_K,
Q6_K, Q5_0, ...) is dequantized with ``gguf.quants.dequantize`` and
re-quantized to Q8_0 once, stored in the cache next to the index.
"""

from __future__ import annotations

import json
import mmap
import os
import pathlib
from dataclasses import asdict
from typing import Any

import torch

from engine._config import ModelConfig, RopeScaling
from engine._errors import ModelLoadError, UnsupportedModelError
from engine.kernels import QWeight
from engine.loader._cache import cache_dir, file_key

__all__ = ["GGUFFile"]

PACKED_SUFFIX = "@x8"  # cache entry of a matrix's 8-row interleaved copy
_NATIVE = {"F32": "f32", "Q8_0": "q8_0", "Q4_0": "q4_0", "Q4_1": "q4_1"}
_ARCHS = ("llama", "qwen2", "mistral")
_GGUF_MAGIC = b"GGUF"


def _check_file(path: pathlib.Path) -> None:
    if not path.is_file():
        raise ModelLoadError(f"model file not found: {path}", path=str(path))
    with path.open("rb") as f:
        if f.read(4) != _GGUF_MAGIC:
            raise ModelLoadError(f"not a GGUF file (bad magic): {path}", path=str(path))


def _config_from_fields(f: dict[str, Any], n_vocab: int, has_output: bool) -> dict[str, Any]:
    arch = str(f["general.architecture"])
    if arch not in _ARCHS:
        raise UnsupportedModelError(f"GGUF architecture {arch!r} is not supported ({_ARCHS})")
    a = arch + "."
    n_heads = int(f[a + "attention.head_count"])
    dim = int(f[a + "embedding_length"])
    scaling = None
    if f.get(a + "rope.scaling.type") == "linear":
        scaling = {"kind": "linear", "factor": float(f[a + "rope.scaling.factor"])}
    eos = [f.get("tokenizer.ggml.eos_token_id"), f.get("tokenizer.ggml.eot_token_id")]
    return {
        "vocab_size": int(f.get(a + "vocab_size", n_vocab)),
        "dim": dim,
        "n_layers": int(f[a + "block_count"]),
        "n_heads": n_heads,
        "n_kv_heads": int(f.get(a + "attention.head_count_kv", n_heads)),
        "head_dim": int(f.get(a + "attention.key_length", dim // n_heads)),
        "hidden_dim": int(f[a + "feed_forward_length"]),
        "norm_eps": float(f[a + "attention.layer_norm_rms_epsilon"]),
        "rope_theta": float(f.get(a + "rope.freq_base", 10000.0)),
        "rope_scaling": scaling,
        "max_seq_len": int(f.get(a + "context_length", 2048)),
        "tie_embeddings": not has_output,
        "qkv_bias": arch == "qwen2",
        "bos_token_id": f.get("tokenizer.ggml.bos_token_id"),
        "eos_token_ids": sorted({int(e) for e in eos if e is not None}),
        "arch": arch,
    }


def _build_index(path: pathlib.Path, conv_path: pathlib.Path) -> dict[str, Any]:
    """Parse the GGUF (slow) into a JSON-able index; convert non-native tensors."""
    import gguf
    import numpy as np

    from engine.loader._tokenizer import tokenizer_from_gguf

    try:
        reader = gguf.GGUFReader(path)
    except Exception as e:  # gguf raises ValueError/struct.error/IndexError on damage
        raise ModelLoadError(f"cannot parse GGUF {path}: {e}", path=str(path)) from e
    fields = {
        k: v.contents()
        for k, v in reader.fields.items()
        if not k.startswith("tokenizer.ggml.") or k.endswith("_id") or k.endswith(("model", "pre"))
    }
    tok = {
        k: reader.fields[k].contents()
        for k in ("tokenizer.ggml.tokens", "tokenizer.ggml.merges", "tokenizer.ggml.token_type")
        if k in reader.fields
    }
    tokens = tok.get("tokenizer.ggml.tokens", [])
    size = path.stat().st_size
    tensors: dict[str, Any] = {}
    names = {t.name for t in reader.tensors}
    cfg = _config_from_fields(fields, len(tokens), "output.weight" in names)
    to_convert = []
    for t in reader.tensors:
        if t.data_offset + t.n_bytes > size:
            raise ModelLoadError(f"GGUF is truncated (tensor {t.name})", path=str(path))
        shape = [int(x) for x in reversed(t.shape.tolist())]  # ggml (K, N) -> torch (N, K)
        qtype = t.tensor_type.name
        entry = {
            "file": "gguf",
            "type": qtype,
            "shape": shape,
            "offset": int(t.data_offset),
            "nbytes": int(t.n_bytes),
        }
        tensors[t.name] = entry
        if qtype not in _NATIVE and qtype not in ("F16", "BF16"):
            to_convert.append(t)
    if "rope_freqs.weight" in names:
        rf = next(t for t in reader.tensors if t.name == "rope_freqs.weight")
        cfg["rope_freq_factors"] = [float(x) for x in np.asarray(rf.data, dtype=np.float32)]
    if to_convert:
        tensors.update(_convert(to_convert, conv_path))
    tokenizer = tokenizer_from_gguf(
        str(fields.get("tokenizer.ggml.model", "gpt2")),
        str(fields.get("tokenizer.ggml.pre", "default")),
        tokens,
        tok.get("tokenizer.ggml.merges", []),
        tok.get("tokenizer.ggml.token_type", [1] * len(tokens)),
    )
    bos, eos = cfg["bos_token_id"], fields.get("tokenizer.ggml.eos_token_id")
    return {
        "config": cfg,
        "tensors": tensors,
        "tokenizer": tokenizer.to_str(),
        "chat_template": fields.get("tokenizer.chat_template"),
        "bos_token": tokens[bos] if bos is not None and bos < len(tokens) else "",
        "eos_token": tokens[eos] if eos is not None and eos < len(tokens) else "",
        "add_bos": bool(fields.get("tokenizer.ggml.add_bos_token", False)),
    }


def _convert(tensors: list[Any], conv_path: pathlib.Path) -> dict[str, Any]:
    """Re-quantize non-native tensors to Q8_0 into ``conv_path`` (with a progress bar)."""
    import gguf
    import numpy as np
    from rich.progress import Progress

    out: dict[str, Any] = {}
    offset = 0
    tmp = conv_path.with_suffix(".tmp")
    with tmp.open("wb") as f, Progress(transient=True) as bar:
        task = bar.add_task("re-quantizing GGUF tensors to Q8_0", total=len(tensors))
        for t in tensors:
            w = gguf.quants.dequantize(np.asarray(t.data), t.tensor_type)
            w = w.reshape(-1, w.shape[-1]).astype(np.float32)
            if w.shape[-1] % 32 or w.shape[0] == 1:
                blob, qtype = w.tobytes(), "F32"
            else:
                blob, qtype = (
                    gguf.quants.quantize(w, gguf.GGMLQuantizationType.Q8_0).tobytes(),
                    "Q8_0",
                )
            shape = [int(x) for x in reversed(t.shape.tolist())]
            out[t.name] = {
                "file": "conv",
                "type": qtype,
                "shape": shape,
                "offset": offset,
                "nbytes": len(blob),
            }
            pad = (-len(blob)) % 64  # keep every tensor 64-byte aligned
            f.write(blob + b"\0" * pad)
            offset += len(blob) + pad
            bar.advance(task)
    os.replace(tmp, conv_path)
    return out


class GGUFFile:
    """A memory-mapped GGUF (plus its cached index) that hands out weights.

    Args:
        path: the ``.gguf`` file.

    Raises:
        ModelLoadError: missing, not GGUF, truncated or unparsable.
        UnsupportedModelError: architecture or tokenizer not supported.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        """Read (or build and cache) the index, and map the file."""
        self.path = pathlib.Path(path)
        _check_file(self.path)
        key = file_key(self.path)
        root = cache_dir()
        index_path, conv_path = root / f"{key}.index.json", root / f"{key}.q8_0.bin"
        try:
            self.index = json.loads(index_path.read_text())
        except (OSError, ValueError):
            self.index = _build_index(self.path, conv_path)
            tmp = index_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.index))
            os.replace(tmp, index_path)
        self._index_path = index_path
        self._fused_path = root / f"{key}.fused.bin"
        self._maps = {"gguf": self._map(self.path)}
        if conv_path.exists():
            self._maps["conv"] = self._map(conv_path)
        if self._fused_path.exists() and self.has_fused:
            self._maps["fused"] = self._map(self._fused_path)
        else:
            self.index["tensors"] = {
                k: v for k, v in self.index["tensors"].items() if v["file"] != "fused"
            }
        cfg = dict(self.index["config"])
        if cfg.get("rope_scaling"):
            cfg["rope_scaling"] = RopeScaling(**cfg["rope_scaling"])
        for k in ("eos_token_ids", "rope_freq_factors"):
            if cfg.get(k) is not None:
                cfg[k] = tuple(cfg[k])
        self.config = ModelConfig(**cfg)

    @staticmethod
    def _map(path: pathlib.Path) -> mmap.mmap:
        with path.open("rb") as f:
            # ACCESS_COPY: a private mapping torch can wrap as writable; pages stay shared
            # with the page cache because we never write to them.
            return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)

    def _bytes(self, entry: dict[str, Any]) -> torch.Tensor:
        mm = self._maps[entry["file"]]
        return torch.frombuffer(
            mm, dtype=torch.uint8, count=entry["nbytes"], offset=entry["offset"]
        )

    def get(self, name: str, permute_heads: int | None = None) -> QWeight | None:
        """The tensor ``name`` as a QWeight, or None when absent.

        Args:
            name: GGUF tensor name.
            permute_heads: undo llama.cpp's Q/K row permutation for this many heads
                (back to HF rotate-half order); this copies the tensor.
        """
        entry = self.index["tensors"].get(name)
        if entry is None:
            return None
        shape = entry["shape"] if len(entry["shape"]) == 2 else [1, entry["shape"][0]]
        n, k = int(shape[0]), int(shape[1])
        raw = self._bytes(entry)
        qtype = entry["type"]
        if qtype in ("F16", "BF16"):
            dt = torch.float16 if qtype == "F16" else torch.bfloat16
            w = QWeight.from_float(raw.view(dt).reshape(n, k).float())
        elif qtype in _NATIVE and qtype != "F32":
            w = QWeight.from_blocks(_NATIVE[qtype], raw, (n, k))  # type: ignore[arg-type]
        elif qtype == "F32":
            w = QWeight("f32", (n, k), raw.view(torch.float32).reshape(n, k))
        else:
            raise UnsupportedModelError(f"tensor {name} has unsupported type {qtype}")
        if permute_heads:
            rows = w.data.reshape(permute_heads, n // permute_heads // 2, 2, -1)  # (H, Dh/2, 2, ·)
            w = QWeight(w.fmt, w.shape, rows.transpose(1, 2).reshape(n, -1).contiguous())
        packed = self.index["tensors"].get(name + PACKED_SUFFIX)
        if packed is not None and not permute_heads:
            w = w.with_packed(self._bytes(packed).reshape(n // 8, -1))
        return w

    @property
    def has_fused(self) -> bool:
        """The cache holds this model's fused Q/K/V and gate/up weights."""
        return any(v["file"] == "fused" for v in self.index["tensors"].values())

    def save_fused(self, fused: dict[str, QWeight], packed: dict[str, QWeight]) -> None:
        """Cache derived weights so that later loads map them instead of rebuilding them.

        Args:
            fused: fused matrices (``blk.{i}.attn_qkv.weight`` ...), stored whole.
                Without this, every load would copy Q/K/V and gate/up out of the
                mapped file (seconds on a busy machine, and both copies stay resident).
            packed: matrices whose 8-row interleaved copy (``w.packed``) is stored,
                as ``<name>@x8``; ``get(name)`` attaches it. Only the copy is
                read at run time, so the GGUF pages of those matrices stay cold.
        """
        entries: dict[str, Any] = {}
        offset = 0
        tmp = self._fused_path.with_suffix(".tmp")
        blobs = [(name, w.fmt.upper(), w.shape, w.data) for name, w in fused.items()]
        blobs += [(name + PACKED_SUFFIX, w.fmt.upper() + "_X8", w.shape, w.packed)
                  for name, w in packed.items() if w.packed is not None]  # fmt: skip
        with tmp.open("wb") as f:
            for name, fmt, shape, data in blobs:
                blob = data.contiguous().numpy().tobytes()
                entries[name] = {"file": "fused", "type": fmt, "shape": list(shape),
                                 "offset": offset, "nbytes": len(blob)}  # fmt: skip
                pad = (-len(blob)) % 64
                f.write(blob + b"\0" * pad)
                offset += len(blob) + pad
        os.replace(tmp, self._fused_path)
        index = dict(self.index, tensors={**self.index["tensors"], **entries})
        tmp = self._index_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(index))
        os.replace(tmp, self._index_path)

    def config_dict(self) -> dict[str, Any]:
        """The model config as plain data (for logs)."""
        return asdict(self.config)
