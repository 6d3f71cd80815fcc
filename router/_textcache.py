"""A small cache of featurised texts shared by the safety filter and the router.

One turn checks the input, then routes the same text: featurising once saves
half the work. Only short texts are cached so memory stays bounded.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from router._linear import Features, featurize

__all__ = ["cached_features"]

_MAX_ITEMS = 256
_MAX_CHARS = 16_384
_cache: OrderedDict[str, Features] = OrderedDict()
_lock = threading.Lock()


def cached_features(text: str) -> Features:
    """``featurize(text)``, memoised for recent short texts (LRU)."""
    if len(text) > _MAX_CHARS:
        return featurize(text)
    with _lock:
        hit = _cache.get(text)
        if hit is not None:
            _cache.move_to_end(text)
            return hit
    feats = featurize(text)
    with _lock:
        _cache[text] = feats
        while len(_cache) > _MAX_ITEMS:
            _cache.popitem(last=False)
    return feats
