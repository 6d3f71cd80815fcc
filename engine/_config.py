"""`ModelConfig`: the hyper-parameters of a Llama-family transformer."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from engine._errors import UnsupportedModelError

__all__ = ["ModelConfig", "RopeScaling"]


@dataclass(frozen=True)
class RopeScaling:
    """RoPE frequency scaling, as in HF ``rope_scaling``.

    Attributes:
        kind: ``"linear"`` (positions divided by ``factor``) or ``"llama3"``
            (low frequencies divided by ``factor``, smooth blend in between).
        factor: the scaling factor (> 0).
        low_freq_factor: llama3 only.
        high_freq_factor: llama3 only.
        original_max_position_embeddings: llama3 only: the pre-training context.
    """

    kind: str
    factor: float
    low_freq_factor: float = 1.0
    high_freq_factor: float = 4.0
    original_max_position_embeddings: int = 8192

    def __post_init__(self) -> None:
        if self.kind not in ("linear", "llama3"):
            raise UnsupportedModelError(f"unsupported rope scaling type {self.kind!r}")
        if not self.factor > 0:
            raise UnsupportedModelError(f"rope scaling factor must be > 0, got {self.factor}")


@dataclass(frozen=True)
class ModelConfig:
    """Shape and numerics of a Llama-family decoder (Llama 2/3, SmolLM2, Mistral, Qwen2).

    Attributes:
        vocab_size: rows of the embedding and the output head.
        dim: model width D.
        n_layers: number of transformer blocks.
        n_heads: query heads H.
        n_kv_heads: key/value heads (GQA when < ``n_heads``).
        head_dim: per-head width; ``dim // n_heads`` for all supported models.
        hidden_dim: SwiGLU inner width F.
        norm_eps: RMSNorm epsilon.
        rope_theta: RoPE base frequency from the checkpoint.
        rope_scaling: optional RoPE scaling (linear or llama3).
        rope_freq_factors: per-frequency divisors (GGUF ``rope_freqs.weight``, llama3).
        max_seq_len: context length the model was trained for.
        tie_embeddings: output head shares the embedding matrix.
        qkv_bias: q/k/v projections carry biases (Qwen2).
        bos_token_id: beginning-of-sequence token, or None.
        eos_token_ids: tokens that end a generation.
        arch: the GGUF/HF architecture name, for messages.
    """

    vocab_size: int
    dim: int
    n_layers: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    hidden_dim: int
    norm_eps: float = 1e-5
    rope_theta: float = 10000.0
    rope_scaling: RopeScaling | None = None
    rope_freq_factors: tuple[float, ...] | None = None
    max_seq_len: int = 2048
    tie_embeddings: bool = False
    qkv_bias: bool = False
    bos_token_id: int | None = None
    eos_token_ids: tuple[int, ...] = field(default_factory=tuple)
    arch: str = "llama"

    def __post_init__(self) -> None:
        for name in ("vocab_size", "dim", "n_layers", "n_heads", "n_kv_heads", "head_dim"):
            if getattr(self, name) <= 0:
                raise UnsupportedModelError(f"config {name} must be > 0, got {getattr(self, name)}")
        if self.hidden_dim <= 0 or self.max_seq_len <= 0:
            raise UnsupportedModelError("config hidden_dim and max_seq_len must be > 0")
        if self.n_heads % self.n_kv_heads:
            raise UnsupportedModelError(
                f"n_heads {self.n_heads} is not a multiple of n_kv_heads {self.n_kv_heads}"
            )
        if self.head_dim % 2:
            raise UnsupportedModelError(f"head_dim must be even for RoPE, got {self.head_dim}")
        if not (self.norm_eps > 0 and self.rope_theta > 0):
            raise UnsupportedModelError("norm_eps and rope_theta must be > 0")

    def inv_freq(self) -> torch.Tensor:
        """RoPE inverse frequencies (head_dim/2,), with the checkpoint's scaling applied."""
        d = self.head_dim
        inv = 1.0 / (self.rope_theta ** (torch.arange(0, d, 2, dtype=torch.float64) / d))
        if self.rope_freq_factors is not None:
            inv = inv / torch.tensor(self.rope_freq_factors, dtype=torch.float64)
        sc = self.rope_scaling
        if sc is None:
            return inv.float()
        if sc.kind == "linear":
            return (inv / sc.factor).float()
        # llama3: keep high frequencies, divide low ones by factor, blend the middle band.
        low_wavelen = sc.original_max_position_embeddings / sc.low_freq_factor
        high_wavelen = sc.original_max_position_embeddings / sc.high_freq_factor
        wavelen = 2 * math.pi / inv
        scaled = torch.where(wavelen > low_wavelen, inv / sc.factor, inv)
        smooth = (sc.original_max_position_embeddings / wavelen - sc.low_freq_factor) / (
            sc.high_freq_factor - sc.low_freq_factor
        )
        blended = (1 - smooth) * scaled / sc.factor + smooth * scaled
        mid = (wavelen >= high_wavelen) & (wavelen <= low_wavelen)
        return torch.where(mid, blended, scaled).float()
