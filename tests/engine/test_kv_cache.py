"""KV-cache slots: allocation, capacity, rollback."""

from __future__ import annotations

import pytest
import torch

from engine import CapacityError
from engine.kv_cache import KVCache


def test_slots_allocate_free_and_capacity() -> None:
    c = KVCache(n_layers=2, n_slots=2, n_kv_heads=1, max_seq_len=8, head_dim=4)
    a, b = c.allocate(), c.allocate()
    assert {a, b} == {0, 1} and c.free_slots == 0
    with pytest.raises(CapacityError):
        c.allocate()
    c.lengths[a] = 5
    c.free(a)
    c.free(a)  # idempotent
    assert c.free_slots == 1
    assert c.allocate() == a and c.lengths[a] == 0


def test_rollback_and_write() -> None:
    c = KVCache(n_layers=1, n_slots=2, n_kv_heads=2, max_seq_len=8, head_dim=4)
    s = c.allocate()
    k = torch.randn(3, 2, 4)  # (T, Hkv, D)
    c.write(0, c.row_index(torch.full((3,), s), torch.arange(3)), k, -k)
    assert torch.equal(c.k[0, s, :, :3].transpose(0, 1), k)
    assert torch.equal(c.v[0, s, :, :3].transpose(0, 1), -k)
    c.lengths[s] = 3
    c.rollback(s, 1)
    assert c.lengths[s] == 1
    with pytest.raises(ValueError):
        c.rollback(s, 2)
