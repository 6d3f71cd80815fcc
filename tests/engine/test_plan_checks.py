"""The C++ ForwardPlan checks every size, format and storage it is given.

Its kernels size their reads and writes from (fmt, N, K) and the config, so each
check stands between a malformed model and an out-of-bounds access. Every case is
one change to a model that builds, and must raise `ModelFormatError` naming what is
wrong (the plan's per-layer structs carry the layer into the message).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import pytest
import torch

from engine import ModelConfig, ModelFormatError, kernels
from engine.kernels import QWeight, interleave
from tests.engine.test_kernels import make_weight

pytestmark = pytest.mark.skipif(kernels.backend() != "cpp", reason="needs the C++ extension")

CFG = ModelConfig(vocab_size=64, dim=32, n_layers=1, n_heads=2, n_kv_heads=1, head_dim=16,
                  hidden_dim=32, max_seq_len=16)  # fmt: skip


@dataclass(frozen=True)
class Layer:
    """A `kernels.LayerSource`."""

    attn_norm: torch.Tensor
    wqkv: QWeight
    bqkv: torch.Tensor | None
    wo: QWeight
    ffn_norm: torch.Tensor
    w_gate_up: QWeight
    w_down: QWeight


@dataclass(frozen=True)
class Model:
    """A `kernels.PlanSource`."""

    config: ModelConfig
    embed: QWeight
    head: QWeight
    norm: torch.Tensor
    cos: torch.Tensor
    sin: torch.Tensor
    layers: Sequence[Layer]


def _model(fmt: str = "q8_0") -> Model:
    """A one-layer model whose matrices are `fmt` with interleaved copies (f32 embedding)."""

    def w(n: int, k: int) -> QWeight:
        return interleave(make_weight(fmt, n, k))

    qkv = (CFG.n_heads + 2 * CFG.n_kv_heads) * CFG.head_dim
    layer = Layer(torch.ones(32), w(qkv, 32), torch.zeros(qkv), w(32, 32), torch.ones(32),
                  w(64, 32), w(32, 32))  # fmt: skip
    rope = torch.zeros(16, CFG.head_dim // 2)
    return Model(CFG, make_weight("f32", 64, 32), w(64, 32), torch.ones(32), rope, rope, [layer])


def _layer(m: Model, **changes: object) -> Model:
    return replace(m, layers=[replace(m.layers[0], **changes)])  # type: ignore[arg-type]


def _raw(
    fmt: str, shape: tuple[int, int], data: torch.Tensor, packed: torch.Tensor | None = None
) -> QWeight:
    return QWeight(fmt, shape, data, packed)  # type: ignore[arg-type]


def _u8(*shape: int) -> torch.Tensor:
    return torch.zeros(*shape, dtype=torch.uint8)


_CASES: dict[str, tuple[Callable[[Model], Model], str]] = {
    "embedding wider than dim": (
        lambda m: replace(m, embed=make_weight("f32", 64, 64)), "embedding"),
    "embedding rows != vocab": (
        lambda m: replace(m, embed=make_weight("f32", 32, 32)), "embedding"),
    "head width": (lambda m: replace(m, head=make_weight("q8_0", 64, 64)), "head"),
    "final norm length": (lambda m: replace(m, norm=torch.ones(16)), "the final norm"),
    "rope tables width": (
        lambda m: replace(m, cos=torch.zeros(16, 4), sin=torch.zeros(16, 4)), "cos and sin"),
    "rope tables disagree": (lambda m: replace(m, sin=m.sin[:8]), "cos and sin"),
    "unknown format": (
        lambda m: _layer(m, wo=_raw("q5_0", (32, 32), _u8(32, 22))),
        "unknown weight format 'q5_0'"),
    "k not a block multiple": (
        lambda m: _layer(m, wo=_raw("q8_0", (32, 48), _u8(32, 51))), "layer 0 wo has format q8_0"),
    "storage too small": (
        lambda m: _layer(m, wo=_raw("q8_0", (32, 32), _u8(32, 17))), "layer 0 wo storage"),
    "f32 storage of bytes": (
        lambda m: _layer(m, wo=_raw("f32", (32, 32), _u8(32, 128))), "layer 0 wo storage"),
    "not contiguous": (
        lambda m: _layer(m, wo=_raw("f32", (32, 32), torch.zeros(32, 32).t())), "contiguous"),
    "f32 with an interleaved copy": (
        lambda m: _layer(m, wo=_raw("f32", (32, 32), torch.zeros(32, 32), _u8(4, 8))),
        "only quantized weights"),
    "interleaved copy size": (
        lambda m: _layer(m, wo=_raw("q8_0", (32, 32), _u8(32, 34), _u8(4, 8))),
        "layer 0 wo's interleaved copy"),
    "wqkv rows": (lambda m: _layer(m, wqkv=make_weight("q8_0", 32, 32)), "layer 0 weight shapes"),
    "down width": (
        lambda m: _layer(m, w_down=make_weight("q8_0", 32, 64)), "layer 0 weight shapes"),
    "attn_norm length": (lambda m: _layer(m, attn_norm=torch.ones(31)), "attn_norm of layer 0"),
    "ffn_norm rank": (lambda m: _layer(m, ffn_norm=torch.ones(32, 1)), "ffn_norm of layer 0"),
    "bias length": (lambda m: _layer(m, bqkv=torch.zeros(63)), "bqkv of layer 0"),
}  # fmt: skip


@pytest.mark.parametrize("fmt", ["f32", "q8_0", "q4_0", "q4_1"])
def test_a_well_formed_model_builds_a_plan(fmt: str) -> None:
    assert kernels.forward_plan(_model(fmt)) is not None
    assert kernels.forward_plan(_layer(_model(fmt), bqkv=None)) is not None


@pytest.mark.parametrize("case", list(_CASES))
def test_plan_refuses_a_malformed_model(case: str) -> None:
    change, message = _CASES[case]
    with pytest.raises(ModelFormatError, match=message):
        kernels.forward_plan(change(_model()))


def test_vectors_not_float32_leave_the_model_to_the_python_loop() -> None:
    assert kernels.forward_plan(replace(_model(), cos=_model().cos.double())) is None
    assert kernels.forward_plan(_layer(_model(), ffn_norm=torch.ones(32).double())) is None


def test_plan_refuses_bad_dims() -> None:
    """Sizes a ModelConfig would refuse, given to the extension directly."""
    ext = kernels._build.load_extension()
    assert ext is not None
    m = _model()
    bad = ext.PlanConfig(vocab_size=64, dim=32, n_heads=3, n_kv_heads=2, head_dim=16,
                         hidden_dim=32, norm_eps=1e-5)  # fmt: skip
    w = ext.PlanWeight(fmt="f32", n=64, k=32, data=m.embed.data)
    with pytest.raises(ValueError, match="bad dims"):
        ext.ForwardPlan(config=bad, cos=m.cos, sin=m.sin, embed=w, norm=m.norm, head=w, layers=[])
