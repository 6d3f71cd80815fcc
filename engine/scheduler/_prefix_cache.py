"""Prefix cache: finished sequences' KV-cache slots kept for the next turn or a shared prefix.

Slots are the unit of memory. When a request ends, its slot is freed but
*parked* here: it goes back to the front of the cache's free list, so
`KVCache.allocate` hands out never-parked slots first and then the parked
ones, least recently used first; whoever allocates a slot tells the cache
(`forget`), which drops its entry. Parked slots therefore still count as free
(an idle engine has every slot free) while their K/V lasts. A new request
looks up the longest cached prefix of its prompt: entries are indexed by a
chained hash of block-aligned token prefixes (``block`` tokens each), then
the exact common prefix is measured token by token, so a hash collision can
never reuse wrong entries. The scheduler then takes the slot over in place
(the new prompt continues that conversation) or copies the shared prefix's
K/V into another slot (a common system prompt or tool schema), and prefills
only the rest.

K/V entries are position-indexed and every scheduler prefill runs through the
row-invariant ``Transformer.forward``, so a hit yields bit-identical logits to
a fresh prefill of the whole prompt.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

from engine._errors import EngineConfigError
from engine.kv_cache import KVCache

__all__ = ["PrefixCache", "PrefixCacheStats", "PrefixHit", "common_prefix", "copy_kv"]


@dataclass(frozen=True)
class PrefixHit:
    """The best cached prefix of a prompt.

    Attributes:
        slot: the parked slot holding it.
        matched: leading prompt tokens whose K/V can be reused (< prompt length,
            so at least one token is fed to get the next-token logits).
        whole: every cached token of the entry is reused (the prompt continues
            that conversation), so taking the slot over loses nothing.
    """

    slot: int
    matched: int
    whole: bool


@dataclass(frozen=True)
class PrefixCacheStats:
    """Counters of the prefix cache.

    Attributes:
        lookups: admissions that consulted the cache.
        hits: admissions that reused at least one block.
        prompt_tokens: prompt tokens of those admissions.
        tokens_saved: prompt tokens not prefilled thanks to hits.
        entries: parked slots now.
        cached_tokens: tokens held by parked slots now.
        evictions: entries evicted (LRU) so far.
    """

    lookups: int
    hits: int
    prompt_tokens: int
    tokens_saved: int
    entries: int
    cached_tokens: int
    evictions: int

    @property
    def hit_rate(self) -> float:
        """hits / lookups (0 before any lookup)."""
        return self.hits / self.lookups if self.lookups else 0.0

    @property
    def saved_fraction(self) -> float:
        """tokens_saved / prompt_tokens (0 before any lookup)."""
        return self.tokens_saved / self.prompt_tokens if self.prompt_tokens else 0.0


@dataclass(eq=False)
class _Entry:
    slot: int
    tokens: list[int]
    keys: list[int] = field(default_factory=list)


def _block_keys(tokens: Sequence[int], block: int) -> list[int]:
    """Chained hash of each whole block: key i covers tokens[: (i + 1) * block]."""
    keys: list[int] = []
    h = 0
    for i in range(len(tokens) // block):
        h = hash((h, tuple(tokens[i * block : (i + 1) * block])))
        keys.append(h)
    return keys


def copy_kv(cache: KVCache, src: int, dst: int, n: int) -> None:
    """Copy positions ``[0, n)`` of slot ``src`` into slot ``dst`` and set its length to ``n``."""
    cache.k[:, dst, :, :n] = cache.k[:, src, :, :n]  # (NL, Hkv, n, Dh)
    cache.v[:, dst, :, :n] = cache.v[:, src, :, :n]
    cache.lengths[dst] = n


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """Length of the longest common prefix of two token lists."""
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


class PrefixCache:
    """Parked KV-cache slots indexed by token prefix, evicted LRU under caps.

    Args:
        cache: the engine's KV cache (its free list orders parked slots).
        block: tokens per hashed block; a hit reuses at least one whole block.
        max_entries: parked slots at most (default: all slots of ``cache``).
        max_tokens: cached tokens at most over all entries (the memory cap;
            default: no cap beyond ``max_entries``).

    Raises:
        ValueError: non-positive ``block``, ``max_entries`` or ``max_tokens``.
    """

    def __init__(
        self,
        cache: KVCache,
        block: int = 16,
        max_entries: int | None = None,
        max_tokens: int | None = None,
    ) -> None:
        """Start empty."""
        if block < 1 or (max_entries is not None and max_entries < 1):
            raise EngineConfigError("block and max_entries must be >= 1")
        if max_tokens is not None and max_tokens < 1:
            raise EngineConfigError("max_tokens must be >= 1")
        self.cache = cache
        self.block = block
        self.max_entries = max_entries or cache.n_slots
        self.max_tokens = max_tokens
        self._lru: OrderedDict[int, _Entry] = OrderedDict()  # slot -> entry, oldest first
        # the cache's free list: parked slots sit at its front (allocated last)
        self._free: list[int] = cache._free
        self._index: dict[int, set[_Entry]] = {}
        self._lookups = self._hits = self._prompt_tokens = self._saved = self._evictions = 0

    def __len__(self) -> int:
        """Number of parked slots."""
        return len(self._lru)

    @property
    def cached_tokens(self) -> int:
        """Tokens held by parked slots."""
        return sum(len(e.tokens) for e in self._lru.values())

    def stats(self) -> PrefixCacheStats:
        """A snapshot of the counters."""
        return PrefixCacheStats(
            lookups=self._lookups,
            hits=self._hits,
            prompt_tokens=self._prompt_tokens,
            tokens_saved=self._saved,
            entries=len(self._lru),
            cached_tokens=self.cached_tokens,
            evictions=self._evictions,
        )

    def lookup(self, prompt: Sequence[int]) -> PrefixHit | None:
        """The entry sharing the longest prefix with ``prompt`` (at least one block), if any.

        Does not count as an admission (see `record`) and does not change the LRU order.
        """
        for stale in [e for e in self._lru.values() if e.slot not in self._free]:
            self._drop(stale.slot)  # allocated behind our back: its K/V may be gone
        best: _Entry | None = None
        for key in _block_keys(prompt, self.block):
            found = self._index.get(key)
            if not found:
                break
            best = max(found, key=lambda e: common_prefix(e.tokens, prompt))
        if best is None:
            return None
        common = common_prefix(best.tokens, prompt)
        matched = min(common, len(prompt) - 1)
        if matched < self.block:
            return None
        return PrefixHit(best.slot, matched, whole=common == len(best.tokens))

    def record(self, prompt_tokens: int, reused: int) -> None:
        """Count one admission of ``prompt_tokens`` of which ``reused`` came from the cache."""
        self._lookups += 1
        self._prompt_tokens += prompt_tokens
        if reused:
            self._hits += 1
            self._saved += reused

    def park(self, slot: int, tokens: Sequence[int]) -> None:
        """Free ``slot`` but keep its first ``len(tokens)`` positions (``tokens``) for reuse.

        An entry that is a prefix of another adds nothing and is not kept; the
        caps are then enforced by forgetting the least recently used entries.
        """
        toks = list(tokens[: self.cache.lengths[slot]])
        self.cache.free(slot)
        if len(toks) < self.block:
            return
        for other in list(self._lru.values()):
            common = common_prefix(other.tokens, toks)
            if common == len(toks):  # already covered by a longer entry
                self._touch(other.slot)
                return
            if common == len(other.tokens):  # the new one extends it
                self._drop(other.slot)
        entry = _Entry(slot, toks, _block_keys(toks, self.block))
        self._lru[slot] = entry
        self._touch(slot)
        for key in entry.keys:
            self._index.setdefault(key, set()).add(entry)
        while len(self._lru) > self.max_entries or (
            self.max_tokens is not None and self.cached_tokens > self.max_tokens
        ):
            self.evict_one()

    def take(self, slot: int, keep: int) -> None:
        """Allocate parked ``slot`` in place, keeping its first ``keep`` positions."""
        self._drop(slot)
        self._free.remove(slot)
        self.cache.lengths[slot] = keep

    def copy_prefix(self, src: int, dst: int, n: int) -> None:
        """Copy positions ``[0, n)`` of parked ``src`` into allocated ``dst``; mark ``src`` used."""
        copy_kv(self.cache, src, dst, n)
        self._touch(src)

    def forget(self, slot: int) -> None:
        """``slot`` was allocated: its entry (if any) is no longer valid."""
        if slot in self._lru:
            self._drop(slot)
            self._evictions += 1

    def evict_one(self) -> bool:
        """Forget the least recently used entry (its slot stays free); False if none."""
        for slot in self._lru:
            self._drop(slot)
            self._evictions += 1
            return True
        return False

    def clear(self) -> None:
        """Forget every entry."""
        while self.evict_one():
            pass

    def _touch(self, slot: int) -> None:
        """Most recently used: last in the LRU order, at the front of the free list."""
        self._lru.move_to_end(slot)
        if slot in self._free:
            self._free.remove(slot)
            self._free.insert(0, slot)

    def _drop(self, slot: int) -> None:
        entry = self._lru.pop(slot)
        for key in entry.keys:
            found = self._index.get(key)
            if found is not None:
                found.discard(entry)
                if not found:
                    del self._index[key]
