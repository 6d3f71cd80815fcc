"""The model files of the per-quantisation benchmark rows: Q4_1 (shipped) and its siblings.

``make bench-quants`` (``scripts/make_quants.sh``) writes the Q4_0, Q8_0 and
Q4_K_M siblings of the shipped Q4_1 GGUF with llama.cpp's ``llama-quantize``
into ``$AGENTKIT_QUANTS_DIR`` (default ``~/.cache/agentkit/quants``), named
``<model>.<QUANT>.gguf``; `quant_models` finds them.
"""

from __future__ import annotations

import os
from pathlib import Path

from engine.loader import default_model_path

__all__ = ["QUANTS", "QUANTS_ENV", "quant_models", "quants_dir"]

QUANTS = ("Q4_1", "Q4_0", "Q8_0", "Q4_K_M")
QUANTS_ENV = "AGENTKIT_QUANTS_DIR"


def quants_dir() -> Path:
    """``$AGENTKIT_QUANTS_DIR``, else ``~/.cache/agentkit/quants``."""
    env = os.environ.get(QUANTS_ENV, "").strip()
    return Path(env) if env else Path.home() / ".cache" / "agentkit" / "quants"


def quant_models(directory: Path | None = None) -> dict[str, Path | None]:
    """Each of `QUANTS` -> its GGUF file, or None where it has not been written.

    Q4_1 is the shipped model itself.
    """
    shipped = default_model_path()
    base = shipped.name.removesuffix(".gguf").removesuffix(".Q4_1")
    root = directory or quants_dir()
    out: dict[str, Path | None] = {"Q4_1": shipped}
    for q in QUANTS[1:]:
        path = root / f"{base}.{q}.gguf"
        out[q] = path if path.is_file() and path.stat().st_size > 0 else None
    return out
