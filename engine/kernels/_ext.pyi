"""Types of the compiled kernel extension (``_bind.cpp``), for mypy.

The extension is built on first use and imported under a name that hashes its
sources (`engine.kernels._build`), so no import statement can name it:
`load_extension` returns the module typed as `Extension`, one static method
per function ``_bind.cpp`` exports. Keep this file in step with ``_bind.cpp``.

Format codes: 0 f32, 1 q8_0, 2 q4_0, 3 q4_1 (``engine.kernels._FMT_CODE``).
"""

from torch import Tensor

class ForwardPlan:
    """The model's whole ragged forward in C++ (``_forward.h``)."""

    def __init__(
        self,
        dims: list[int],
        eps: float,
        cos: Tensor,
        sin: Tensor,
        embed: Tensor,
        norm: Tensor,
        head: Tensor,
        fmts: list[int],
        layer_tensors: list[Tensor],
        packed: list[Tensor],
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
