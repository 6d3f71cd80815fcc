"""Static KV cache: S slots, allocated once, one slot per live request."""

from __future__ import annotations

import torch

from engine._errors import CapacityError

__all__ = ["KV_DTYPES", "KVCache"]

# Storage the engine keeps keys and values in (docs/kv-cache.md): the C++ plan and
# the attention kernel read and write both, widening fp16 to fp32 on load.
KV_DTYPES: dict[str, torch.dtype] = {"float16": torch.float16, "float32": torch.float32}


class KVCache:
    """Keys and values of every layer for ``n_slots`` sequences of up to ``max_seq_len``.

    The storage is allocated once, so decode never allocates cache memory. A
    request owns one slot; ``lengths[slot]`` counts the positions that hold
    valid entries. Rolling back (rejected drafts) only lowers the length: the
    stale entries are overwritten by the next writes at those positions.

    Attributes:
        k, v: (n_layers, S, Hkv, L, D) storage.
        k_layers, v_layers: per-layer views (S, Hkv, L, D), built once so the
            forward pass does not create views per step.
    """

    def __init__(
        self,
        n_layers: int,
        n_slots: int,
        n_kv_heads: int,
        max_seq_len: int,
        head_dim: int,
        dtype: torch.dtype = torch.float32,
        device: str | torch.device = "cpu",
    ) -> None:
        """Allocate the cache storage once."""
        shape = (n_layers, n_slots, n_kv_heads, max_seq_len, head_dim)
        # empty, not zeros: untouched pages cost no resident memory, and attention
        # never reads a position before it is written.
        self.k = torch.empty(shape, dtype=dtype, device=device)  # (NL, S, Hkv, L, D)
        self.v = torch.empty(shape, dtype=dtype, device=device)
        self.k_layers = list(self.k.unbind(0))  # NL × (S, Hkv, L, D)
        self.v_layers = list(self.v.unbind(0))
        # the same storage as rows (S·Hkv·L, D), for index_copy_ (much cheaper than index_put)
        self._k_rows = [k.view(-1, head_dim) for k in self.k_layers]
        self._v_rows = [v.view(-1, head_dim) for v in self.v_layers]
        self._heads = torch.arange(n_kv_heads) * max_seq_len  # (Hkv,)
        self._slot_stride = n_kv_heads * max_seq_len
        self.n_slots = n_slots
        self.max_seq_len = max_seq_len
        self.lengths = [0] * n_slots
        self._free = list(range(n_slots - 1, -1, -1))

    @property
    def nbytes(self) -> int:
        """Bytes of K and V storage together."""
        return 2 * self.k.numel() * self.k.element_size()

    @property
    def free_slots(self) -> int:
        """Number of slots not owned by any request."""
        return len(self._free)

    def allocate(self) -> int:
        """Take a free slot (length 0).

        Raises:
            CapacityError: every slot is in use.
        """
        if not self._free:
            raise CapacityError(f"all {self.n_slots} KV-cache slots are in use")
        slot = self._free.pop()
        self.lengths[slot] = 0
        return slot

    def free(self, slot: int) -> None:
        """Return ``slot`` to the pool; freeing a free slot is a no-op."""
        if slot not in self._free:
            self.lengths[slot] = 0
            self._free.append(slot)

    def rollback(self, slot: int, length: int) -> None:
        """Forget positions ``length`` and beyond of ``slot`` (e.g. rejected drafts)."""
        if not 0 <= length <= self.lengths[slot]:
            raise ValueError(f"cannot roll slot {slot} back to {length} from {self.lengths[slot]}")
        self.lengths[slot] = length

    def row_index(self, slots: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """Flat row of every (row, kv head) for `write`: slots, positions (T,) -> (T·Hkv,)."""
        base = slots * self._slot_stride + positions  # (T,)
        return (base[:, None] + self._heads[None, :]).reshape(-1)  # (T·Hkv,)

    def write(self, layer: int, rows: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> None:
        """Store each row's key/value at ``cache[layer, slots[t], :, positions[t]]``.

        Args:
            layer: layer index.
            rows: (T·Hkv,) from `row_index` (computed once per forward, shared by layers).
            k, v: (T, Hkv, D).
        """
        dt = self.k.dtype  # fp16 storage rounds to nearest even, as the C++ plan does
        self._k_rows[layer].index_copy_(0, rows, k.reshape(rows.shape[0], -1).to(dt))
        self._v_rows[layer].index_copy_(0, rows, v.reshape(rows.shape[0], -1).to(dt))
