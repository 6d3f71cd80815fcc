"""GGUF loading: a cached index of the file, then zero-copy views of its tensors.

Parsing a GGUF with ``gguf.GGUFReader`` takes seconds (it materialises every
metadata array), so the first load writes an index (config, tokenizer, chat
template, tensor offsets) to the disk cache; later loads read that index and
memory-map the file. Tensors in formats the kernels run (F32, Q8_0, Q4_0,
Q4_1) are used in place; F16/BF16 are expanded to f32; every other type (Q4_K,
Q6_K, Q5_0, ...) is dequantized with ``gguf.quants.dequantize`` and
re-quantized to Q8_0 once, stored in the cache next to the index.

The cache is checked on every load (`engine.loader._cache`): an index that
does not parse or validate, or a tensor file that is missing, truncated or
from another write, is rebuilt, with a ``model_cache.rebuild`` log line.
"""

from __future__ import annotations

import json
import mmap
import os
import pathlib
from dataclasses import asdict
from typing import IO, Any

import torch
from tokenizers import Tokenizer

from engine._config import ModelConfig
from engine._errors import ModelFormatError, ModelLoadError
from engine.kernels import QWeight
from engine.loader._cache import (
    blob_matches,
    cache_dir,
    file_key,
    log_cache_event,
    seal,
    unseal,
    write_atomic,
    write_blobs,
)
from engine.loader._gguf_index import NATIVE, build_index, open_index
from engine.loader._validate import check_entry

__all__ = ["PACKED_SUFFIX", "GGUFFile"]

PACKED_SUFFIX = "@x8"  # cache entry of a matrix's 8-row interleaved copy
_GGUF_MAGIC = b"GGUF"


class _StaleCache(Exception):
    """A cached file does not match the index (internal: triggers a rebuild)."""


def _check_file(path: pathlib.Path) -> None:
    if not path.is_file():
        raise ModelLoadError(f"model file not found: {path}", path=str(path))
    with path.open("rb") as f:
        if f.read(4) != _GGUF_MAGIC:
            raise ModelLoadError(f"not a GGUF file (bad magic): {path}", path=str(path))


def _map(path: pathlib.Path) -> mmap.mmap:
    with path.open("rb") as f:
        # ACCESS_COPY: a private mapping torch can wrap as writable; pages stay shared
        # with the page cache because we never write to them.
        return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)


def _map_checked(path: pathlib.Path, manifest: object) -> mmap.mmap:
    """Map a cached tensor file and check the mapped bytes against its manifest."""
    try:
        mm = _map(path)
    except (OSError, ValueError) as e:  # missing, or empty (mmap refuses 0 bytes)
        raise _StaleCache(f"{path.name}: {e}") from e
    why = blob_matches(mm, manifest)
    if why:
        mm.close()
        raise _StaleCache(f"{path.name}: {why}")
    return mm


class GGUFFile:
    """A memory-mapped GGUF (plus its cached index) that hands out weights.

    Args:
        path: the ``.gguf`` file.

    Raises:
        ModelLoadError: missing, not GGUF, truncated or unparsable.
        ModelFormatError: metadata or tensors that are invalid or do not match.
        UnsupportedModelError: architecture, tensor type or tokenizer not supported.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        """Read (or build and cache) the index, and map the file."""
        self.path = pathlib.Path(path)
        _check_file(self.path)
        key = file_key(self.path)
        root = cache_dir()
        self._index_path = root / f"{key}.index.json"
        self._paths = {"conv": root / f"{key}.q8_0.bin", "fused": root / f"{key}.fused.bin"}
        self._maps = {"gguf": _map(self.path)}
        opened = self._open_cached() or self._build()
        self.index: dict[str, Any] = opened[0]
        self.config: ModelConfig = opened[1]
        self.tokenizer: Tokenizer = opened[2]

    def _open_cached(self) -> tuple[dict[str, Any], ModelConfig, Tokenizer] | None:
        """The cached index, checked with its tensor files; None when absent or stale."""
        try:
            data = self._index_path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            ix = json.loads(unseal(data))
            cfg, tok = open_index(ix, str(self.path))
            if "conv" in ix["files"]:
                self._maps["conv"] = _map_checked(self._paths["conv"], ix["files"]["conv"])
            self._open_fused(ix)
            self._check_entries(ix)
        except Exception as e:  # any fault in a cache file means: rebuild it
            log_cache_event("model_cache.rebuild", model=str(self.path), reason=str(e))
            for name in ("conv", "fused"):
                self._maps.pop(name, None)
            return None
        return ix, cfg, tok

    def _open_fused(self, ix: dict[str, Any]) -> None:
        """Map the fused file, or drop its entries (this load rebuilds it) when stale."""
        if not any(v.get("file") == "fused" for v in ix["tensors"].values()):
            return
        try:
            self._maps["fused"] = _map_checked(self._paths["fused"], ix["files"].get("fused"))
        except _StaleCache as e:
            log_cache_event("model_cache.rebuild", model=str(self.path), reason=str(e))
            ix["tensors"] = {k: v for k, v in ix["tensors"].items() if v.get("file") != "fused"}
            ix["files"].pop("fused", None)

    def _check_entries(self, ix: dict[str, Any]) -> None:
        sizes = {name: len(mm) for name, mm in self._maps.items()}
        for name, entry in ix["tensors"].items():
            check_entry(name, entry, sizes, str(self.path))
            if entry["file"] == "gguf" and entry["type"] not in (*NATIVE, "F16", "BF16"):
                raise ModelFormatError(f"tensor {name!r} of type {entry['type']} was not converted")

    def _build(self) -> tuple[dict[str, Any], ModelConfig, Tokenizer]:
        """Parse the GGUF (slow), check the result as a cached one would be, cache it."""
        ix = build_index(self.path, self._paths["conv"])
        cfg, tok = open_index(ix, str(self.path))
        if "conv" in ix["files"]:
            try:
                self._maps["conv"] = _map_checked(self._paths["conv"], ix["files"]["conv"])
            except _StaleCache as e:  # removed or damaged in the instant since we wrote it
                raise ModelLoadError(f"the model cache changed while loading: {e}") from e
        self._check_entries(ix)
        self._write_index(ix)
        return ix, cfg, tok

    def _write_index(self, ix: dict[str, Any]) -> None:
        """Cache the index; a cache that cannot be written only costs the next load time."""
        data = seal(json.dumps(ix).encode())

        def write(f: IO[bytes]) -> None:
            f.write(data)

        try:
            write_atomic(self._index_path, write)
        except OSError as e:
            log_cache_event("model_cache.write_failed", path=str(self._index_path), error=str(e))

    def _bytes(self, entry: dict[str, Any]) -> torch.Tensor:
        mm = self._maps[entry["file"]]
        return torch.frombuffer(
            mm, dtype=torch.uint8, count=entry["nbytes"], offset=entry["offset"]
        )

    def get(self, name: str, permute_heads: int | None = None) -> QWeight | None:
        """The tensor ``name`` as a QWeight, or None when absent.

        Entries were checked when the index was opened (`check_entry`): type,
        shape, byte size and bounds agree, so the views below cannot fail.

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
        elif qtype == "F32":
            w = QWeight("f32", (n, k), raw.view(torch.float32).reshape(n, k))
        else:
            w = QWeight.from_blocks(NATIVE[qtype], raw, (n, k))  # type: ignore[arg-type]
        if permute_heads:
            rows = w.data.reshape(permute_heads, n // permute_heads // 2, 2, -1)  # (H, Dh/2, 2, ·)
            w = QWeight(w.fmt, w.shape, rows.transpose(1, 2).reshape(n, -1).contiguous())
        packed = self.index["tensors"].get(name + PACKED_SUFFIX)
        if packed is not None and not permute_heads:
            if packed["type"] != qtype + "_X8" or packed["shape"] != entry["shape"]:
                raise ModelFormatError(f"tensor {name!r}: its interleaved copy does not match")
            w = w.with_packed(self._bytes(packed).reshape(n // 8, -1))
        return w

    @property
    def has_fused(self) -> bool:
        """The cache holds this model's fused Q/K/V and gate/up weights."""
        return any(v["file"] == "fused" for v in self.index["tensors"].values())

    def save_fused(self, fused: dict[str, QWeight], packed: dict[str, QWeight]) -> None:
        """Cache derived weights so that later loads map them instead of rebuilding them.

        A cache that cannot be written is logged and skipped: the model in memory
        is complete either way.

        Args:
            fused: fused matrices (``blk.{i}.attn_qkv.weight`` ...), stored whole.
                Without this, every load would copy Q/K/V and gate/up out of the
                mapped file (seconds on a busy machine, and both copies stay resident).
            packed: matrices whose 8-row interleaved copy (``w.packed``) is stored,
                as ``<name>@x8``; ``get(name)`` attaches it. Only the copy is
                read at run time, so the GGUF pages of those matrices stay cold.
        """
        blobs = [(name, w.fmt.upper(), w.shape, w.data) for name, w in fused.items()]
        blobs += [(name + PACKED_SUFFIX, w.fmt.upper() + "_X8", w.shape, w.packed)
                  for name, w in packed.items() if w.packed is not None]  # fmt: skip
        items = (
            (name, {"type": fmt, "shape": list(shape)}, data.contiguous().numpy().tobytes())
            for name, fmt, shape, data in blobs
        )
        try:
            entries, manifest = write_blobs(self._paths["fused"], items, "fused")
        except OSError as e:
            where = str(self._paths["fused"])
            log_cache_event("model_cache.write_failed", path=where, error=str(e))
            return
        files = {**self.index["files"], "fused": manifest}
        self._write_index(
            dict(self.index, tensors={**self.index["tensors"], **entries}, files=files)
        )

    def config_dict(self) -> dict[str, Any]:
        """The model config as plain data (for logs)."""
        return asdict(self.config)
