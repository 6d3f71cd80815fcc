"""The machine's read bandwidth, and the decode rate it allows a model.

Decoding one token reads every weight once, so a forward of a ``B``-byte model
cannot run faster than ``bandwidth / B`` tokens a second. `agentkit bench decode`
reports the engine's decode rate as a fraction of that bound (issue 18's target:
at least 0.8 on Q4_1). The bandwidth is measured the way decoding reads: ``threads``
threads summing a buffer far larger than the last-level cache, best of ``rounds``.
It runs in a child process of its own (`engine.bench._child.in_child`), so its
OpenMP team never sits beside a timed engine.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["Bandwidth", "decode_bound", "measure_read_bandwidth"]


@dataclass(frozen=True)
class Bandwidth:
    """A read-bandwidth measurement.

    Attributes:
        gb_per_s: the best round's bytes read per second, in 1e9 bytes.
        rounds_gb_per_s: every round's figure, in order.
        buffer_mb: the buffer summed (1e6 bytes); far above the L3.
        threads: threads that read it.
    """

    gb_per_s: float
    rounds_gb_per_s: tuple[float, ...]
    buffer_mb: float
    threads: int

    def to_json(self) -> dict[str, Any]:
        """Every attribute."""
        return asdict(self)


def measure_read_bandwidth(threads: int, buffer_mb: int = 1024, rounds: int = 7) -> Bandwidth:
    """Best-of-``rounds`` read bandwidth of ``threads`` threads summing ``buffer_mb``.

    Raises:
        ValueError: ``threads``, ``buffer_mb`` or ``rounds`` below 1.
    """
    if threads < 1 or buffer_mb < 1 or rounds < 1:
        raise ValueError("threads, buffer_mb and rounds must be >= 1")
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        buf = torch.ones(buffer_mb * 1_000_000 // 4, dtype=torch.float32)
        buf.sum()  # page the buffer in and start the thread team
        figures = []
        for _ in range(rounds):
            start = time.perf_counter()
            buf.sum()
            figures.append(buf.numel() * 4 / (time.perf_counter() - start) / 1e9)
    finally:
        torch.set_num_threads(before)
    return Bandwidth(max(figures), tuple(figures), float(buffer_mb), threads)


def decode_bound(gb_per_s: float, model_bytes: int) -> float:
    """Tokens a second a decode that reads ``model_bytes`` per token cannot exceed.

    Raises:
        ValueError: a non-positive bandwidth or model size.
    """
    if gb_per_s <= 0 or model_bytes <= 0:
        raise ValueError("bandwidth and model size must be positive")
    return gb_per_s * 1e9 / model_bytes
