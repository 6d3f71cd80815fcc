"""Parse a GGUF once into a JSON-able index, and open (and check) such an index.

Parsing with ``gguf.GGUFReader`` takes seconds (it materialises every metadata
array), so `build_index` runs on a model's first load only; its result is
cached. Everything in it is checked, in `build_index` against the file and in
`open_index` again when a cached copy is read back: a cached index is a file
like any other, and may be stale or damaged.
"""

from __future__ import annotations

import pathlib
from typing import Any

from tokenizers import Tokenizer

from engine._config import ModelConfig, RopeScaling
from engine._errors import ModelFormatError, ModelLoadError, UnsupportedModelError
from engine.loader._cache import write_blobs
from engine.loader._fields import field_str
from engine.loader._gguf_meta import config_from_fields, tokenizer_arrays
from engine.loader._validate import check_tensor_table, expected_shapes

__all__ = ["INDEX_VERSION", "NATIVE", "build_index", "open_index"]

INDEX_VERSION = 3
NATIVE = {"F32": "f32", "Q8_0": "q8_0", "Q4_0": "q4_0", "Q4_1": "q4_1"}  # run in place
_EXPANDED = ("F16", "BF16")  # read in place, expanded to f32 on load
_TOKENIZER_KEYS = ("tokenizer.ggml.tokens", "tokenizer.ggml.merges", "tokenizer.ggml.token_type")


def _read(path: pathlib.Path) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """``(reader, fields, tokenizer arrays)``; any parse failure is a `ModelLoadError`."""
    import gguf

    try:
        reader = gguf.GGUFReader(path)
        fields = {
            k: v.contents()
            for k, v in reader.fields.items()
            if not k.startswith("tokenizer.ggml.") or k not in _TOKENIZER_KEYS
        }
        tok = {k: reader.fields[k].contents() for k in _TOKENIZER_KEYS if k in reader.fields}
        tensors = list(reader.tensors)
    except Exception as e:  # gguf raises ValueError/struct.error/IndexError/... on damage
        raise ModelLoadError(f"cannot parse GGUF {path}: {e}", path=str(path)) from e
    return tensors, fields, tok


def make_config(cfg: dict[str, Any]) -> ModelConfig:
    """A `ModelConfig` from its index form (lists for tuples, a dict for the scaling).

    Raises:
        ModelFormatError: an invalid or missing value.
        UnsupportedModelError: an unsupported RoPE scaling.
    """
    cfg = dict(cfg)
    if cfg.get("rope_scaling"):
        cfg["rope_scaling"] = RopeScaling(**cfg["rope_scaling"])
    for k in ("eos_token_ids", "rope_freq_factors"):
        if cfg.get(k) is not None:
            cfg[k] = tuple(cfg[k])
    try:
        return ModelConfig(**cfg)
    except TypeError as e:  # a missing or unknown key
        raise ModelFormatError(f"bad model config: {e}") from e


def _tensor_entries(tensors: list[Any], cfg: ModelConfig, path: pathlib.Path) -> dict[str, Any]:
    """Index entries of the tensors the model uses; shapes checked, bounds checked."""
    size = path.stat().st_size
    wanted = expected_shapes(cfg)
    shapes: dict[str, list[int]] = {}
    entries: dict[str, Any] = {}
    for t in tensors:
        shape = [int(x) for x in reversed(t.shape.tolist())]  # ggml (K, N) -> torch (N, K)
        shapes[t.name] = shape
        if t.data_offset + t.n_bytes > size:
            raise ModelLoadError(f"GGUF is truncated (tensor {t.name})", path=str(path))
        if t.name in wanted:
            entries[t.name] = {
                "file": "gguf",
                "type": t.tensor_type.name,
                "shape": shape,
                "offset": int(t.data_offset),
                "nbytes": int(t.n_bytes),
            }
    check_tensor_table(cfg, shapes, str(path))
    return entries


def _rope_factors(tensors: list[Any], path: pathlib.Path) -> list[float] | None:
    import numpy as np

    rf = next((t for t in tensors if t.name == "rope_freqs.weight"), None)
    if rf is None:
        return None
    if rf.tensor_type.name != "F32":
        msg = f"rope_freqs.weight must be F32, got {rf.tensor_type.name}"
        raise ModelFormatError(msg, path=str(path), field="rope_freqs.weight")
    return [float(x) for x in np.asarray(rf.data, dtype=np.float32).reshape(-1)]


def _convert(tensors: list[Any], conv_path: pathlib.Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Re-quantize non-native tensors to Q8_0 into ``conv_path`` (with a progress bar).

    Returns:
        ``(entries, manifest)`` of the written file.
    """
    import gguf
    import numpy as np
    from rich.progress import Progress

    def blobs() -> Any:
        with Progress(transient=True) as bar:
            task = bar.add_task("re-quantizing GGUF tensors to Q8_0", total=len(tensors))
            for t in tensors:
                try:
                    w = gguf.quants.dequantize(np.asarray(t.data), t.tensor_type)
                except (NotImplementedError, ValueError, KeyError) as e:
                    msg = f"tensor {t.name} has unsupported type {t.tensor_type.name}: {e}"
                    raise UnsupportedModelError(msg) from e
                w = w.reshape(-1, w.shape[-1]).astype(np.float32)
                if w.shape[-1] % 32 or w.shape[0] == 1:
                    blob, qtype = w.tobytes(), "F32"
                else:
                    q8 = gguf.quants.quantize(w, gguf.GGMLQuantizationType.Q8_0)
                    blob, qtype = q8.tobytes(), "Q8_0"
                shape = [int(x) for x in reversed(t.shape.tolist())]
                yield t.name, {"type": qtype, "shape": shape}, blob
                bar.advance(task)

    try:
        return write_blobs(conv_path, blobs(), "conv")
    except OSError as e:
        raise ModelLoadError(f"cannot write the model cache {conv_path}: {e}") from e


def _tokenizer(fields: dict[str, Any], tok: dict[str, Any], cfg: ModelConfig) -> Tokenizer:
    from engine.loader._tokenizer import tokenizer_from_gguf

    tokens, merges, types = tokenizer_arrays(tok)
    if not tokens:
        raise ModelFormatError("GGUF has no tokenizer.ggml.tokens", field="tokenizer.ggml.tokens")
    if len(tokens) > cfg.vocab_size:
        msg = f"the tokenizer has {len(tokens)} tokens, the embedding {cfg.vocab_size} rows"
        raise ModelFormatError(msg, field="tokenizer.ggml.tokens")
    model = field_str(fields, "tokenizer.ggml.model", "gpt2")
    pre = field_str(fields, "tokenizer.ggml.pre", "default")
    try:
        return tokenizer_from_gguf(model, pre, tokens, merges, types)
    except UnsupportedModelError:
        raise
    except Exception as e:  # tokenizers raises its own Exception subclasses on bad merges
        raise ModelFormatError(f"GGUF tokenizer is invalid: {e}", field="tokenizer") from e


def build_index(path: pathlib.Path, conv_path: pathlib.Path) -> dict[str, Any]:
    """Parse the GGUF (slow) into a JSON-able index; convert non-native tensors.

    Raises:
        ModelLoadError: unparsable or truncated; `ModelFormatError` for invalid
            metadata or tensors that do not match it.
        UnsupportedModelError: architecture, tensor type or tokenizer not supported.
    """
    tensors, fields, tok = _read(path)
    names = {t.name for t in tensors}
    tokens = tok.get("tokenizer.ggml.tokens")
    tokens = tokens if isinstance(tokens, list) else []
    n_vocab = len(tokens)
    raw = config_from_fields(fields, n_vocab, "output.weight" in names)
    raw["rope_freq_factors"] = _rope_factors(tensors, path)
    cfg = make_config(raw)
    entries = _tensor_entries(tensors, cfg, path)
    manifests: dict[str, Any] = {}
    to_convert = [t for t in tensors if t.name in entries and t.tensor_type.name not in NATIVE]
    to_convert = [t for t in to_convert if t.tensor_type.name not in _EXPANDED]
    if to_convert:
        conv_entries, manifests["conv"] = _convert(to_convert, conv_path)
        entries.update(conv_entries)
    tokenizer = _tokenizer(fields, tok, cfg)
    template = fields.get("tokenizer.chat_template")
    if template is not None and not isinstance(template, str):
        raise ModelFormatError(
            "GGUF chat template is not a string", field="tokenizer.chat_template"
        )
    bos, eos = cfg.bos_token_id, min(cfg.eos_token_ids, default=None)
    if "tokenizer.ggml.eos_token_id" in fields:
        eos = fields["tokenizer.ggml.eos_token_id"]
    return {
        "version": INDEX_VERSION,
        "config": raw,
        "tensors": entries,
        "files": manifests,
        "tokenizer": tokenizer.to_str(),
        "chat_template": template,
        "bos_token": tokens[bos] if bos is not None and bos < n_vocab else "",
        "eos_token": tokens[eos] if eos is not None and eos < n_vocab else "",
        "add_bos": bool(fields.get("tokenizer.ggml.add_bos_token", False)),
    }


def open_index(ix: Any, path: str) -> tuple[ModelConfig, Tokenizer]:
    """Check an index's structure and contents; its config and tokenizer.

    Raises:
        ModelFormatError: a field missing or mistyped, a config that does not
            validate, a tensor table that does not match it, a bad tokenizer.
        UnsupportedModelError: as `make_config`.
    """
    kinds = {"version": int, "config": dict, "tensors": dict, "files": dict, "tokenizer": str}
    kinds |= {"bos_token": str, "eos_token": str, "add_bos": bool}
    if not isinstance(ix, dict) or ix.get("version") != INDEX_VERSION:
        raise ModelFormatError("model index has another version", path=path)
    for key, kind in kinds.items():
        if not isinstance(ix.get(key), kind):
            raise ModelFormatError(f"model index field {key!r} is missing or mistyped", path=path)
    if not isinstance(ix.get("chat_template"), (str, type(None))):
        raise ModelFormatError("model index chat_template is mistyped", path=path)
    cfg = make_config(ix["config"])
    shapes = {k: v.get("shape") if isinstance(v, dict) else None for k, v in ix["tensors"].items()}
    if not all(isinstance(s, list) for s in shapes.values()):
        raise ModelFormatError("model index has a tensor without a shape", path=path)
    check_tensor_table(cfg, shapes, path)  # type: ignore[arg-type]
    try:
        tokenizer = Tokenizer.from_str(ix["tokenizer"])
    except Exception as e:  # tokenizers' own exception type
        raise ModelFormatError(f"model index tokenizer is invalid: {e}", path=path) from e
    if tokenizer.get_vocab_size(with_added_tokens=True) > cfg.vocab_size:
        raise ModelFormatError("the tokenizer is larger than the embedding", path=path)
    return cfg, tokenizer
