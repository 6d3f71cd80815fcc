"""GGUF metadata (key/value fields) read into a config, with every value checked.

The fields come from the file, so each is looked up with its expected type:
a missing key, a string where a count belongs or a list where a number
belongs raises `ModelFormatError` naming the key, never ``KeyError`` or
``ValueError``. Ranges are checked by `ModelConfig` itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from engine._errors import ModelFormatError, UnsupportedModelError
from engine.loader._fields import field_float, field_int, field_str

__all__ = ["ARCHS", "config_from_fields", "tokenizer_arrays"]

ARCHS = ("llama", "qwen2", "mistral")


def _optional_id(f: Mapping[str, Any], key: str) -> int | None:
    return None if key not in f else field_int(f, key)


def config_from_fields(f: Mapping[str, Any], n_vocab: int, has_output: bool) -> dict[str, Any]:
    """The `ModelConfig` keyword arguments a GGUF's fields describe.

    Args:
        f: the GGUF key/value fields (``ReaderField.contents()``).
        n_vocab: the tokenizer's token count (the vocabulary size when no key gives it).
        has_output: the file holds an ``output.weight`` (else the head is tied).

    Raises:
        ModelFormatError: a missing, mistyped or non-finite field; heads that do not split
            the width when no ``key_length`` gives the head size.
        UnsupportedModelError: an architecture other than llama, qwen2 or mistral.
    """
    arch = field_str(f, "general.architecture")
    if arch not in ARCHS:
        raise UnsupportedModelError(f"GGUF architecture {arch!r} is not supported ({ARCHS})")
    a = arch + "."
    n_heads = field_int(f, a + "attention.head_count")
    dim = field_int(f, a + "embedding_length")
    if a + "attention.key_length" in f:
        head_dim = field_int(f, a + "attention.key_length")
    elif n_heads <= 0 or dim % n_heads:
        raise ModelFormatError(
            f"embedding_length {dim} is not a multiple of head_count {n_heads}",
            field=a + "attention.head_count",
        )
    else:
        head_dim = dim // n_heads
    scaling = None
    if f.get(a + "rope.scaling.type") == "linear":
        scaling = {"kind": "linear", "factor": field_float(f, a + "rope.scaling.factor")}
    eos = [_optional_id(f, "tokenizer.ggml.eos_token_id")]
    eos.append(_optional_id(f, "tokenizer.ggml.eot_token_id"))
    return {
        "vocab_size": field_int(f, a + "vocab_size", n_vocab),
        "dim": dim,
        "n_layers": field_int(f, a + "block_count"),
        "n_heads": n_heads,
        "n_kv_heads": field_int(f, a + "attention.head_count_kv", n_heads),
        "head_dim": head_dim,
        "hidden_dim": field_int(f, a + "feed_forward_length"),
        "norm_eps": field_float(f, a + "attention.layer_norm_rms_epsilon"),
        "rope_theta": field_float(f, a + "rope.freq_base", 10000.0),
        "rope_scaling": scaling,
        "max_seq_len": field_int(f, a + "context_length", 2048),
        "tie_embeddings": not has_output,
        "qkv_bias": arch == "qwen2",
        "bos_token_id": _optional_id(f, "tokenizer.ggml.bos_token_id"),
        "eos_token_ids": sorted({e for e in eos if e is not None}),
        "arch": arch,
    }


def _str_list(value: object, key: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ModelFormatError(f"GGUF metadata {key!r} must be a list of strings", field=key)
    return value


def tokenizer_arrays(f: Mapping[str, Any]) -> tuple[list[str], list[str], list[int]]:
    """``(tokens, merges, token_types)`` of a GGUF's byte-level BPE tokenizer, checked.

    Raises:
        ModelFormatError: a mistyped array, or token types not one per token.
    """
    tokens = _str_list(f.get("tokenizer.ggml.tokens", []), "tokenizer.ggml.tokens")
    merges = _str_list(f.get("tokenizer.ggml.merges", []), "tokenizer.ggml.merges")
    key = "tokenizer.ggml.token_type"
    types: Sequence[object] = f.get(key, [1] * len(tokens))
    if not isinstance(types, list) or len(types) != len(tokens):
        raise ModelFormatError(f"GGUF metadata {key!r} must hold one type per token", field=key)
    if not all(isinstance(t, int) and not isinstance(t, bool) for t in types):
        raise ModelFormatError(f"GGUF metadata {key!r} must be a list of integers", field=key)
    return tokens, merges, [t for t in types if isinstance(t, int)]
