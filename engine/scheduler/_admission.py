"""Admission: the bounded priority queue of waiting requests and start-time estimates.

Waiting requests are served earliest *virtual* deadline first. A request
with a deadline uses it; one without gets ``arrival + slack``, where the
slack grows with its expected work (prompt and expected-output buckets), so
short requests overtake long ones but nothing waits forever (its virtual
deadline is fixed at arrival). An explicit ``priority`` ranks before all that.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from engine._errors import EngineConfigError
from engine.scheduler._errors import QueueFullError

__all__ = ["AdmissionQueue", "ServiceEstimate"]

T = TypeVar("T")


class AdmissionQueue(Generic[T]):
    """A bounded min-queue on ``(-priority, virtual deadline)`` with O(1) removal marks.

    Args:
        max_size: waiting items at most.
    """

    def __init__(self, max_size: int) -> None:
        """Start empty."""
        if max_size < 1:
            raise EngineConfigError(f"max_size must be >= 1, got {max_size}")
        self.max_size = max_size
        self._heap: list[tuple[int, float, int, T]] = []
        self._gone: set[int] = set()
        self._ids: dict[int, int] = {}  # id(item) -> tie-breaker
        self._count = itertools.count()

    def __len__(self) -> int:
        """Waiting items."""
        return len(self._ids)

    def push(self, item: T, priority: int, virtual_deadline: float) -> None:
        """Add ``item``.

        Raises:
            QueueFullError: ``max_size`` items are already waiting.
        """
        if len(self) >= self.max_size:
            raise QueueFullError(
                f"{self.max_size} requests are already waiting", max_queue=self.max_size
            )
        n = next(self._count)
        self._ids[id(item)] = n
        heapq.heappush(self._heap, (-priority, virtual_deadline, n, item))

    def pop(self) -> T | None:
        """The most urgent item, removed; None when empty."""
        while self._heap:
            _, _, n, item = heapq.heappop(self._heap)
            if n in self._gone:
                self._gone.discard(n)
                continue
            del self._ids[id(item)]
            return item
        return None

    def remove(self, item: T) -> bool:
        """Drop ``item`` if it is waiting; True if it was."""
        n = self._ids.pop(id(item), None)
        if n is None:
            return False
        self._gone.add(n)
        return True

    def items(self) -> list[T]:
        """The waiting items, in no particular order."""
        return [it for *_, n, it in self._heap if n not in self._gone]


@dataclass
class ServiceEstimate:
    """Running averages used to predict when a waiting request can start.

    Attributes:
        step_s: seconds per scheduler step (exponential average).
        request_s: seconds a request holds its slot (exponential average).
        alpha: weight of a new observation.
    """

    step_s: float = 0.0
    request_s: float = 0.0
    alpha: float = 0.2
    _seen: set[str] = field(default_factory=set)

    def observe(self, name: str, seconds: float) -> None:
        """Fold one observation of ``name`` ("step_s" or "request_s") in."""
        old = getattr(self, name)
        new = seconds if name not in self._seen else old + self.alpha * (seconds - old)
        self._seen.add(name)
        setattr(self, name, new)

    def start_delay(self, ahead: int, free_slots: int, n_slots: int) -> float:
        """Seconds until a request with ``ahead`` requests before it gets a slot.

        With a free slot for it, none: it joins the batch at the next step
        boundary. Otherwise each wave of ``n_slots`` requests ahead costs one
        mean request duration (0 until one was observed: optimistic).
        """
        if ahead < free_slots:
            return 0.0
        waves = (ahead - free_slots) // n_slots + 1
        return self.step_s + waves * self.request_s
