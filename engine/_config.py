"""`ModelConfig`: the hyper-parameters of a Llama-family transformer."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from engine._errors import ModelFormatError, UnsupportedModelError

__all__ = ["ModelConfig", "RopeScaling"]

# Upper bounds past which a value is corrupt, not a model: each is ~10x the largest
# released checkpoint's (vocab 262K, width 16K, 126 layers, FFN 53K, context 10M).
_INT_LIMITS: dict[str, int] = {
    "vocab_size": 1 << 22,
    "dim": 1 << 17,
    "n_layers": 1 << 12,
    "n_heads": 1 << 12,
    "n_kv_heads": 1 << 12,
    "head_dim": 1 << 12,
    "hidden_dim": 1 << 20,
    "max_seq_len": 1 << 24,
}
_MAX_ROPE_THETA = 1e12  # Llama 3 uses 5e5; the longest-context checkpoints ~1e8


def _check_int(owner: str, name: str, value: object, low: int, high: int) -> None:
    """Raise `ModelFormatError` unless ``low <= value <= high`` (a true int, not a bool)."""
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ModelFormatError(
            f"{owner} {name} must be an integer in [{low}, {high}], got {value!r}", field=name
        )


def _check_float(owner: str, name: str, value: object, low: float, high: float) -> None:
    """Raise `ModelFormatError` unless ``value`` is a finite number in ``(low, high]``."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not (ok and math.isfinite(value) and low < value <= high):  # type: ignore[arg-type, operator]
        raise ModelFormatError(
            f"{owner} {name} must be a finite number in ({low}, {high}], got {value!r}", field=name
        )


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
        owner = "rope scaling"
        _check_float(owner, "factor", self.factor, 0.0, 1e6)
        _check_float(owner, "low_freq_factor", self.low_freq_factor, 0.0, 1e6)
        _check_float(owner, "high_freq_factor", self.high_freq_factor, 0.0, 1e6)
        _check_int(owner, "original_max_position_embeddings", self.original_max_position_embeddings,
                   1, _INT_LIMITS["max_seq_len"])  # fmt: skip
        if self.kind == "llama3" and not self.high_freq_factor > self.low_freq_factor:
            # the llama3 blend divides by (high - low)
            raise ModelFormatError(
                "rope scaling high_freq_factor must exceed low_freq_factor, got "
                f"{self.high_freq_factor} <= {self.low_freq_factor}",
                field="high_freq_factor",
            )


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
        """Reject values no checkpoint has (they come from files: never trust them).

        Raises:
            ModelFormatError: a size out of range, a non-finite float, heads that
                do not group, token ids outside the vocabulary.
            UnsupportedModelError: an odd head_dim (RoPE rotates pairs).
        """
        for name, high in _INT_LIMITS.items():
            _check_int("config", name, getattr(self, name), 1, high)
        if self.n_heads % self.n_kv_heads:
            raise ModelFormatError(
                f"n_heads {self.n_heads} is not a multiple of n_kv_heads {self.n_kv_heads}",
                field="n_kv_heads",
            )
        if self.head_dim % 2:
            raise UnsupportedModelError(f"head_dim must be even for RoPE, got {self.head_dim}")
        _check_float("config", "norm_eps", self.norm_eps, 0.0, 1.0)
        _check_float("config", "rope_theta", self.rope_theta, 0.0, _MAX_ROPE_THETA)
        self._check_rope_factors()
        ids = [] if self.bos_token_id is None else [self.bos_token_id]
        for i in [*ids, *self.eos_token_ids]:
            _check_int("config", "bos/eos token id", i, 0, self.vocab_size - 1)

    def _check_rope_factors(self) -> None:
        factors = self.rope_freq_factors
        if factors is None:
            return
        if len(factors) != self.head_dim // 2:
            raise ModelFormatError(
                f"rope_freq_factors has {len(factors)} values, need head_dim/2 = "
                f"{self.head_dim // 2}",
                field="rope_freq_factors",
            )
        for v in factors:
            _check_float("config", "rope_freq_factors", v, 0.0, 1e6)

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
