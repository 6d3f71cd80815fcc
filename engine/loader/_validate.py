"""Every tensor checked against the config before a byte of it is read.

A checkpoint is hostile input: a tensor one column wider than the model made
the C++ forward write past a buffer. So the loaders check, in Python and
before anything is mapped or converted, that

- every tensor the config implies is present, with exactly the shape it implies
  (`expected_shapes`), and no block beyond ``n_layers`` exists;
- each stored tensor's byte size is what its type and shape need, and it lies
  inside its file (`check_entry`);
- every weight handed to the model builder has its shape and storage size
  (`check_weight`).

The C++ ``ForwardPlan`` checks the same invariants again (defence in depth).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, TypeGuard

from engine._config import ModelConfig
from engine._errors import ModelFormatError
from engine.kernels import BLOCK, BLOCK_BYTES, QWeight

__all__ = ["check_entry", "check_tensor_table", "check_weight", "expected_shapes", "weight_nbytes"]

_BLOCK_RE = re.compile(r"blk\.(\d+)\.")
_PACKED = "_X8"  # type suffix of a matrix's 8-row interleaved copy (same bytes as its blocks)
# bytes of one element (float types) or of one 32-element block (GGUF block types)
_ELEMENT_BYTES = {"F32": 4, "F16": 2, "BF16": 2}


def expected_shapes(cfg: ModelConfig) -> dict[str, tuple[int, ...]]:
    """The shape (torch order, (N, K) for matrices) of every tensor ``cfg`` requires."""
    d, v, f = cfg.dim, cfg.vocab_size, cfg.hidden_dim
    q, kv = cfg.n_heads * cfg.head_dim, cfg.n_kv_heads * cfg.head_dim
    shapes: dict[str, tuple[int, ...]] = {"token_embd.weight": (v, d), "output_norm.weight": (d,)}
    if not cfg.tie_embeddings:
        shapes["output.weight"] = (v, d)
    for i in range(cfg.n_layers):
        p = f"blk.{i}."
        shapes |= {
            p + "attn_norm.weight": (d,),
            p + "ffn_norm.weight": (d,),
            p + "attn_q.weight": (q, d),
            p + "attn_k.weight": (kv, d),
            p + "attn_v.weight": (kv, d),
            p + "attn_output.weight": (d, q),
            p + "ffn_gate.weight": (f, d),
            p + "ffn_up.weight": (f, d),
            p + "ffn_down.weight": (d, f),
        }
        if cfg.qkv_bias:
            shapes |= {p + "attn_q.bias": (q,), p + "attn_k.bias": (kv,), p + "attn_v.bias": (kv,)}
    return shapes


def _optional_shapes(cfg: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Tensors that may be present: the cache's fused matrices, llama3 rope factors."""
    qkv = (cfg.n_heads + 2 * cfg.n_kv_heads) * cfg.head_dim
    shapes: dict[str, tuple[int, ...]] = {"rope_freqs.weight": (cfg.head_dim // 2,)}
    for i in range(cfg.n_layers):
        shapes[f"blk.{i}.attn_qkv.weight"] = (qkv, cfg.dim)
        shapes[f"blk.{i}.ffn_gate_up.weight"] = (2 * cfg.hidden_dim, cfg.dim)
    return shapes


def check_tensor_table(
    cfg: ModelConfig, shapes: Mapping[str, Sequence[int]], path: str = ""
) -> None:
    """Check a file's tensor table (name -> shape) against the config.

    Raises:
        ModelFormatError: a required tensor missing, a shape that differs from the
            config's, or a block index at or past ``n_layers``.
    """
    want = expected_shapes(cfg)
    optional = _optional_shapes(cfg)
    for name, shape in shapes.items():
        base = name.removesuffix("@x8")
        m = _BLOCK_RE.match(base)
        if m is not None and int(m.group(1)) >= cfg.n_layers:
            msg = f"tensor {name!r} is past the config's {cfg.n_layers} blocks"
            raise ModelFormatError(msg, path=path, field=name)
        expected = want.get(base, optional.get(base))
        if expected is not None and tuple(shape) != expected:
            msg = f"tensor {name!r} has shape {list(shape)}, the config needs {list(expected)}"
            raise ModelFormatError(msg, path=path, field=name)
    for name in want:
        if name not in shapes:
            raise ModelFormatError(f"tensor {name!r} is missing", path=path, field=name)


def weight_nbytes(qtype: str, shape: Sequence[int]) -> int | None:
    """Bytes a tensor of GGUF type ``qtype`` and ``shape`` occupies, or None when it cannot.

    ``shape`` is torch order: the last dim is the row, which block types split in 32s.
    Types ending in ``_X8`` are interleaved copies: the same bytes as their blocks.
    """
    qtype = qtype.upper()
    if qtype.endswith(_PACKED):
        if len(shape) != 2 or shape[0] % 8:
            return None
        qtype = qtype.removesuffix(_PACKED)
    n = 1
    for s in shape:
        n *= s
    if qtype in _ELEMENT_BYTES:
        return n * _ELEMENT_BYTES[qtype]
    fmt = qtype.lower()
    if fmt not in BLOCK_BYTES or shape[-1] % BLOCK:
        return None
    return n // BLOCK * BLOCK_BYTES[fmt]


def _is_count(x: object) -> TypeGuard[int]:
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0


def check_entry(name: str, entry: Any, file_sizes: Mapping[str, int], path: str = "") -> None:
    """Check one cached-index tensor entry: its file, type, shape, size and bounds.

    Raises:
        ModelFormatError: an unknown file or type, a byte size that does not match
            the type and shape, an unaligned float tensor or one outside its file.
    """

    def bad(why: str) -> ModelFormatError:
        return ModelFormatError(f"tensor {name!r}: {why}", path=path, field=name)

    storage = entry.get("file") if isinstance(entry, dict) else None
    if not isinstance(storage, str) or storage not in file_sizes:
        raise bad(f"no readable storage ({entry!r:.80})")
    shape, offset, nbytes = entry.get("shape"), entry.get("offset"), entry.get("nbytes")
    if not (isinstance(shape, list) and 1 <= len(shape) <= 2 and all(_is_count(s) for s in shape)):
        raise bad(f"bad shape {shape!r:.80}")
    if not (_is_count(offset) and _is_count(nbytes) and isinstance(entry.get("type"), str)):
        raise bad("bad offset, size or type")
    want = weight_nbytes(entry["type"], shape)
    if want is None or want != nbytes or min(shape) == 0:
        raise bad(f"{nbytes} bytes do not hold a {entry['type']} tensor of shape {shape}")
    if offset + nbytes > file_sizes[entry["file"]]:
        raise bad(f"bytes {offset}..{offset + nbytes} lie past the end of its file")
    if offset % _ELEMENT_BYTES.get(entry["type"], 1):
        raise bad(f"offset {offset} is not aligned for {entry['type']}")


def check_weight(name: str, w: QWeight, shape: tuple[int, ...]) -> None:
    """Check a built weight's shape and storage against the config's ``shape``.

    Raises:
        ModelFormatError: the shape differs, or the storage does not hold it.
    """
    got = w.shape if len(shape) == 2 else (w.shape[0] * w.shape[1],)
    if tuple(got) != shape or (len(shape) == 1 and w.shape[0] != 1):
        raise ModelFormatError(
            f"tensor {name!r} has shape {list(w.shape)}, the config needs {list(shape)}",
            field=name,
        )
    size = w.data.numel() * w.data.element_size()
    if size != weight_nbytes(w.fmt, w.shape):
        raise ModelFormatError(f"tensor {name!r} holds {size} bytes, not a {w.fmt} {w.shape}")
    if w.packed is not None and w.packed.numel() * w.packed.element_size() != size:
        raise ModelFormatError(f"tensor {name!r}: its interleaved copy is not {size} bytes")
