"""The engine's hot operations: fused dequantize-and-multiply, norms, attention.

This module is the kernels' whole Python API: the model imports it and it
imports nothing of the model (`forward_plan` reads any `PlanSource`). The
compiled extension's functions are typed in ``_ext.pyi``.

Every operation computes each row of its output independently and in the same
order whatever the number of rows (and, on the C++ backend, whatever the
thread count), so verifying γ drafted tokens (or batching requests) yields
bit-identical rows to single-token decode.

Backends: CPU float32 tensors go to a C++ extension (built on first use and
cached, see ``engine.kernels._build``); everything else, or every call when
``AGENTKIT_KERNELS=torch`` is set or the build failed, goes to the pure-torch
reference. Only the C++ backend guarantees bit-exact row invariance.

Paths: the extension is built once per instruction set (``avx512vnni``,
``avxvnni``, ``avx2``, ``portable``; `engine.kernels._paths`) and the best one
the CPU runs serves by default; ``AGENTKIT_KERNELS=<path>`` or
`set_kernel_path` picks another (`available_paths` lists what this CPU runs).
The x86 paths give bit-identical results.

Activation quantization: on the C++ backend built for AVX2, ``linear`` with a
quantized weight (q8_0, q4_0, q4_1) quantizes each activation row to int8 per
block of 32 and multiplies in integers, as llama.cpp does (a few times
faster; logits move by a few hundredths, see the README). ``f32`` weights always
use fp32 activations. ``AGENTKIT_ACT_QUANT=0`` (or ``set_act_quant(False)``, or
``linear(..., act_quant=False)``) selects the fp32-activation path, which
matches the dequantized reference to 1e-4; ``AGENTKIT_ACT_QUANT=1`` forces the
int8 path even on the portable scalar build.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal, Protocol

import torch

from engine._config import ModelConfig
from engine._errors import ModelFormatError
from engine.kernels import _reference
from engine.kernels._build import active_path, load_extension, set_path
from engine.kernels._formats import FORMATS
from engine.kernels._pack import pack_rows8, packable
from engine.kernels._paths import available_paths
from engine.kernels._qweight import BLOCK, BLOCK_BYTES, QFormat, QWeight
from engine.kv_cache import KV_DTYPES

if TYPE_CHECKING:
    from engine.kernels._ext import Extension, ForwardPlan, PlanLayer, PlanWeight

__all__ = [
    "BLOCK",
    "BLOCK_BYTES",
    "LayerSource",
    "PlanSource",
    "QFormat",
    "QWeight",
    "act_quant_enabled",
    "attention",
    "available_paths",
    "backend",
    "forward_plan",
    "greedy_pick",
    "interleave",
    "kernel_path",
    "linear",
    "rms_norm",
    "rope",
    "set_act_quant",
    "set_kernel_path",
    "silu_mul",
]

_F32 = torch.float32
_act_quant_override: bool | None = None


def backend() -> Literal["cpp", "torch"]:
    """Which backend serves CPU float32 tensors (builds the extension if needed)."""
    return "torch" if load_extension() is None else "cpp"


def kernel_path() -> str:
    """The instruction-set path serving the kernels (``"avx2"``...), or ``"torch"`` when off."""
    return active_path()


def set_kernel_path(name: str | None) -> None:
    """Serve the kernels from path ``name`` (one of `available_paths`; ``None``: the default).

    A model notices on its next forward and rebuilds its plan on the new path.

    Raises:
        ValueError: ``name`` is unknown or this CPU cannot run it.
    """
    set_path(name)
    _default_act_quant.cache_clear()


def set_act_quant(enabled: bool | None) -> None:
    """Choose the activation path of quantized ``linear`` for this process.

    Args:
        enabled: ``True`` int8 activations, ``False`` fp32 activations,
            ``None`` back to the default (``AGENTKIT_ACT_QUANT``, else int8
            exactly when the extension was built for AVX2).
    """
    global _act_quant_override
    _act_quant_override = enabled
    _default_act_quant.cache_clear()


def act_quant_enabled() -> bool:
    """Whether quantized ``linear`` calls on the C++ backend use int8 activations."""
    return _default_act_quant() if _act_quant_override is None else _act_quant_override


@functools.cache
def _default_act_quant() -> bool:
    # Read once (linear runs ~300 times a token); set_act_quant(None) re-reads.
    env = os.environ.get("AGENTKIT_ACT_QUANT", "").strip().lower()
    if env in ("0", "false", "off", "no"):
        return False
    ext = load_extension()
    if ext is None:
        return False
    return env in ("1", "true", "on", "yes") or bool(ext.simd_avx2())


def linear(x: torch.Tensor, w: QWeight, *, act_quant: bool | None = None) -> torch.Tensor:
    """``x @ W.T`` for ``x`` (T, K) and ``W`` (N, K); returns (T, N).

    Args:
        x: (T, K) activations.
        w: (N, K) weight.
        act_quant: int8 activations for a quantized ``w`` (``None``: the
            process default, see ``act_quant_enabled()``). Ignored for ``f32`` weights
            and on the torch backend.

    Raises:
        ValueError: on the C++ backend, if shapes or storage do not match.
    """
    ext = load_extension()
    if ext is None or not x.is_cpu or x.dtype is not _F32:
        return _reference.linear(x, w)
    code, n, k = FORMATS[w.fmt].code, w.shape[0], w.shape[1]
    if code and (act_quant_enabled() if act_quant is None else act_quant):
        if w.packed is not None:
            return ext.linear_x8(x, w.packed, code, n, k)
        return ext.linear_i8(x, w.data, code, n, k)
    return ext.linear(x, w.data, code, n, k)


def interleave(w: QWeight) -> QWeight:
    """``w`` with its 8-row interleaved copy for the int8 kernel, when it can use one.

    Only the C++ backend reads the copy, so elsewhere (and for ``f32`` weights
    or N not a multiple of 8) ``w`` comes back as it is. The copy is as large as
    the blocks themselves; the loader caches it on disk and maps it.
    """
    if w.packed is not None or not packable(w) or load_extension() is None:
        return w
    return w.with_packed(pack_rows8(w))


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """RMSNorm over the last dim of ``x`` (T, D) with ``weight`` (D,)."""
    ext = load_extension()
    if ext is None or not x.is_cpu or x.dtype is not _F32 or weight.dtype is not _F32:
        return _reference.rms_norm(x, weight, eps)
    return ext.rms_norm(x, weight, eps)


def rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotary embedding, HF "rotate half" layout.

    Args:
        x: (T, H, D)
        cos, sin: (T, D // 2), already gathered at each row's position.
    """
    ext = load_extension()
    if ext is None or not x.is_cpu or x.dtype is not _F32:
        return _reference.rope(x, cos, sin)
    return ext.rope(x, cos, sin)


def silu_mul(gate_up: torch.Tensor) -> torch.Tensor:
    """SwiGLU: ``silu(gate) * up`` for ``gate_up`` (T, 2F) laid out [gate | up]."""
    ext = load_extension()
    if ext is None or not gate_up.is_cpu or gate_up.dtype is not _F32:
        return _reference.silu_mul(gate_up)
    return ext.silu_mul(gate_up)


def attention(
    q: torch.Tensor,
    k_cache: torch.Tensor,
    v_cache: torch.Tensor,
    slots: torch.Tensor,
    positions: torch.Tensor,
) -> torch.Tensor:
    """Causal attention of each query row over its own cache slot.

    Row ``t`` attends to ``cache[slots[t], :, 0 : positions[t] + 1]``: its own
    key/value must already be written at ``positions[t]``. Query head ``h``
    reads KV head ``h // (H // Hkv)``; scores are scaled by ``D ** -0.5``.

    Args:
        q: (T, H, D)
        k_cache, v_cache: (S, Hkv, L, D), float32 or float16 (widened on load)
        slots, positions: (T,) int64
    Returns:
        (T, H, D)
    """
    ext = load_extension()
    kv_ok = k_cache.dtype in KV_DTYPES.values()
    if ext is None or not q.is_cpu or q.dtype is not _F32 or not kv_ok:
        return _reference.attention(q, k_cache, v_cache, slots, positions)
    return ext.attention(q, k_cache, v_cache, slots, positions)


def greedy_pick(logits: torch.Tensor) -> tuple[int, float] | None:
    """Argmax of ``logits`` (V,) (first on ties, as ``torch.argmax``) and its log-softmax.

    One C++ pass (~20 µs over a 49k vocabulary, against 0.25–0.7 ms for torch's
    argmax and logsumexp on 2 cores). None when the extension is off, the
    logits are not a CPU fp32 vector, or no logit is finite.
    """
    ext = load_extension()
    if ext is None or logits.dim() != 1 or not logits.is_cpu or logits.dtype is not _F32:
        return None
    try:
        token, logprob = ext.greedy_pick(logits)
    except ValueError:  # all -inf / NaN: the caller lets torch decide
        return None
    return int(token), float(logprob)


class LayerSource(Protocol):
    """One block's weights as `forward_plan` reads them (`engine.model.LayerWeights`)."""

    @property
    def attn_norm(self) -> torch.Tensor: ...
    @property
    def wqkv(self) -> QWeight: ...
    @property
    def bqkv(self) -> torch.Tensor | None: ...
    @property
    def wo(self) -> QWeight: ...
    @property
    def ffn_norm(self) -> torch.Tensor: ...
    @property
    def w_gate_up(self) -> QWeight: ...
    @property
    def w_down(self) -> QWeight: ...


class PlanSource(Protocol):
    """A model's weights as `forward_plan` reads them (`engine.model.Transformer`)."""

    @property
    def config(self) -> ModelConfig: ...
    @property
    def embed(self) -> QWeight: ...
    @property
    def head(self) -> QWeight: ...
    @property
    def norm(self) -> torch.Tensor: ...
    @property
    def cos(self) -> torch.Tensor: ...
    @property
    def sin(self) -> torch.Tensor: ...
    @property
    def layers(self) -> Sequence[LayerSource]: ...


def forward_plan(model: PlanSource) -> ForwardPlan | None:
    """The extension's ``ForwardPlan`` for a model's weights (`engine.model.Transformer`), or None.

    None when the C++ backend is off or any weight is not a CPU float32 /
    GGUF-block tensor: the model then runs its Python loop.

    Raises:
        ModelFormatError: a weight's shape, format or size does not match the
            config (the plan checks them all: its kernels trust them).
    """
    ext = load_extension()
    if ext is None or not _plan_tensors_on_cpu(model):
        return None
    cfg = model.config
    try:
        config = ext.PlanConfig(
            vocab_size=cfg.vocab_size,
            dim=cfg.dim,
            n_heads=cfg.n_heads,
            n_kv_heads=cfg.n_kv_heads,
            head_dim=cfg.head_dim,
            hidden_dim=cfg.hidden_dim,
            norm_eps=float(cfg.norm_eps),
        )
        return ext.ForwardPlan(
            config=config,
            cos=model.cos.contiguous(),
            sin=model.sin.contiguous(),
            embed=_plan_weight(ext, model.embed, packed=False),
            norm=model.norm.contiguous(),
            head=_plan_weight(ext, model.head),
            layers=[_plan_layer(ext, lw) for lw in model.layers],
        )
    except (ValueError, RuntimeError) as e:  # the plan's checks (TORCH_CHECK), unknown formats
        raise ModelFormatError(f"the model's weights do not fit its config: {e}") from e


def _plan_tensors_on_cpu(model: PlanSource) -> bool:
    """Whether every weight is on the CPU and every vector float32 (else: the Python loop)."""
    weights = [model.embed, model.head]
    for lw in model.layers:
        weights += [lw.wqkv, lw.wo, lw.w_gate_up, lw.w_down]
    floats = [model.norm, model.cos, model.sin, *(lw.attn_norm for lw in model.layers)]
    floats += [lw.ffn_norm for lw in model.layers]
    return all(w.data.is_cpu for w in weights) and all(t.is_cpu and t.dtype is _F32 for t in floats)


def _plan_layer(ext: Extension, lw: LayerSource) -> PlanLayer:
    """One block's weights as the plan holds them."""
    return ext.PlanLayer(
        attn_norm=lw.attn_norm,
        wqkv=_plan_weight(ext, lw.wqkv),
        bqkv=None if lw.bqkv is None else lw.bqkv.contiguous(),
        wo=_plan_weight(ext, lw.wo),
        ffn_norm=lw.ffn_norm,
        gate_up=_plan_weight(ext, lw.w_gate_up),
        down=_plan_weight(ext, lw.w_down),
    )


def _plan_weight(ext: Extension, w: QWeight, *, packed: bool = True) -> PlanWeight:
    """``w`` as the plan holds it; ``packed=False`` leaves out its interleaved copy (embeddings)."""
    n, k = w.shape
    copy = w.packed if packed else None
    return ext.PlanWeight(fmt=w.fmt, n=n, k=k, data=w.data, packed=copy)
