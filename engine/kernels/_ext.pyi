"""Types of the compiled kernel extension (``_bind.cpp``), for mypy.

The extension is built on first use and imported under a name that hashes its
sources (`engine.kernels._build`), so no import statement can name it:
`load_extension` returns the module typed as `Extension`, one static method
per function ``_bind.cpp`` exports. Keep this file in step with ``_bind.cpp``.

Format codes and names: the table of ``_formats.h`` (``Extension.formats``),
copied in ``engine.kernels._formats.FORMATS``.
"""

from torch import Tensor

class PlanConfig:
    """The model's sizes as the ``ForwardPlan`` checks them (``engine.ModelConfig``'s names)."""

    def __init__(
        self,
        *,
        vocab_size: int,
        dim: int,
        n_heads: int,
        n_kv_heads: int,
        head_dim: int,
        hidden_dim: int,
        norm_eps: float,
    ) -> None: ...

class PlanWeight:
    """A (n, k) weight in format ``fmt`` (a name of ``_formats.h``), its interleaved copy if any."""

    def __init__(
        self, *, fmt: str, n: int, k: int, data: Tensor, packed: Tensor | None = None
    ) -> None: ...

class PlanLayer:
    """One transformer block's weights (``bqkv`` None when the model has no QKV bias)."""

    def __init__(
        self,
        *,
        attn_norm: Tensor,
        wqkv: PlanWeight,
        bqkv: Tensor | None,
        wo: PlanWeight,
        ffn_norm: Tensor,
        gate_up: PlanWeight,
        down: PlanWeight,
    ) -> None: ...

class ForwardPlan:
    """The model's whole ragged forward in C++ (``_forward.h``); checks every shape on init."""

    def __init__(
        self,
        *,
        config: PlanConfig,
        cos: Tensor,
        sin: Tensor,
        embed: PlanWeight,
        norm: Tensor,
        head: PlanWeight,
        layers: list[PlanLayer],
    ) -> None: ...
    def forward(
        self,
        tokens: Tensor,
        slots: Tensor,
        positions: Tensor,
        k_cache: Tensor,
        v_cache: Tensor,
        act_quant: bool,
        logit_rows: Tensor | None = None,
    ) -> Tensor: ...

class Extension:
    """The extension module object."""

    ForwardPlan: type[ForwardPlan]
    PlanConfig: type[PlanConfig]
    PlanLayer: type[PlanLayer]
    PlanWeight: type[PlanWeight]

    @staticmethod
    def formats() -> list[tuple[str, int, int, int, int]]:
        """(name, code, block_elems, block_bytes, scale_bytes) of each format, by code."""

    @staticmethod
    def linear(x: Tensor, w: Tensor, fmt: int, n: int, k: int) -> Tensor: ...
    @staticmethod
    def linear_i8(x: Tensor, w: Tensor, fmt: int, n: int, k: int) -> Tensor: ...
    @staticmethod
    def linear_x8(x: Tensor, w: Tensor, fmt: int, n: int, k: int) -> Tensor: ...
    @staticmethod
    def quantize_act(x: Tensor) -> tuple[Tensor, Tensor, Tensor]: ...
    @staticmethod
    def simd_avx2() -> bool: ...
    @staticmethod
    def simd_path() -> str: ...
    @staticmethod
    def rms_norm(x: Tensor, w: Tensor, eps: float) -> Tensor: ...
    @staticmethod
    def rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor: ...
    @staticmethod
    def silu_mul(gate_up: Tensor) -> Tensor: ...
    @staticmethod
    def greedy_pick(logits: Tensor) -> tuple[int, float]: ...
    @staticmethod
    def attention(
        q: Tensor, k_cache: Tensor, v_cache: Tensor, slots: Tensor, positions: Tensor
    ) -> Tensor: ...
