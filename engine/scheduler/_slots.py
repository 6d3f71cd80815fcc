"""Where a newcomer's K/V comes from: a running request's prompt, the prefix cache, or nothing.

A request whose prompt shares at least a block with a running request's
either waits until that prompt is prefilled (then copies its K/V) or copies
it at once; otherwise the prefix cache may continue a parked conversation in
place or copy a cached prefix into a fresh slot.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from engine.kv_cache import KVCache
from engine.scheduler._prefix_cache import PrefixCache, common_prefix, copy_kv
from engine.scheduler._request import Request

__all__ = ["live_sharer", "release_slot", "slot_for"]


def live_sharer(
    prefix: PrefixCache | None, running: list[Request], ids: list[int], done: bool
) -> tuple[Request, int] | None:
    """A running request sharing at least a block with ``ids``, and the shared length.

    ``done``: one whose prefill has covered the shared part (its K/V can be
    copied now); otherwise one still prefilling it. None without a prefix cache.
    """
    if prefix is None:
        return None
    best: tuple[Request, int] | None = None
    for r in running:
        if r.cancelled or r.stop_reason is not None:
            continue
        n = min(common_prefix(r.ids, ids), len(ids) - 1)
        if n < prefix.block or (best is not None and n <= best[1]):
            continue
        if (done and r.prefilled >= n) or (not done and r.prefilled < n):
            best = (r, n)
    return best


def slot_for(
    cache: KVCache, prefix: PrefixCache | None, running: list[Request], ids: list[int]
) -> tuple[int, int]:
    """A slot for a prompt and how many of its tokens are already in it."""
    if prefix is None:
        return cache.allocate(), 0
    hit = prefix.lookup(ids)
    live = live_sharer(prefix, running, ids, done=True)
    if live is not None and (hit is None or live[1] > hit.matched):
        slot = cache.allocate()  # copy from a running request's prefilled prompt
        prefix.forget(slot)
        assert live[0].seq is not None
        with _released_on_error(cache, prefix, slot):
            copy_kv(cache, live[0].seq.slot, slot, live[1])
        prefix.record(len(ids), live[1])
        return slot, live[1]
    if hit is not None and hit.whole:  # continue that conversation in place
        prefix.take(hit.slot, hit.matched)
        slot = hit.slot
    else:
        slot = cache.allocate()  # never-parked slots first, then LRU parked ones
        prefix.forget(slot)
        if hit is not None and slot == hit.slot:  # the hit's slot was the last one free
            cache.lengths[slot] = hit.matched
        elif hit is not None:
            with _released_on_error(cache, prefix, slot):
                prefix.copy_prefix(hit.slot, slot, hit.matched)
    reused = hit.matched if hit is not None else 0
    prefix.record(len(ids), reused)
    return slot, reused


def release_slot(cache: KVCache, prefix: PrefixCache | None, slot: int) -> None:
    """Give back a slot a request failed to start in (its contents are not cached)."""
    if prefix is not None:
        prefix.forget(slot)
    cache.free(slot)


@contextmanager
def _released_on_error(cache: KVCache, prefix: PrefixCache, slot: int) -> Iterator[None]:
    """Free ``slot`` if the block fails (a copy into a fresh slot must not leak it)."""
    try:
        yield
    except BaseException:
        release_slot(cache, prefix, slot)
        raise
