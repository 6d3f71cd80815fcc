"""`ComputeThread`: the one OS thread that runs all of an engine's torch work.

OpenMP keeps one worker team per thread that opens parallel regions. With the
model loaded on one thread and steps run on another, two teams exist, more
OpenMP threads than cores, and libgomp's idle workers stop spinning: every
parallel region then pays a wake-up (~50 µs here, ~150 regions a token).
Measured on 2 cores: decode at 34–44 tok/s off the loading thread against
82–87 tok/s when loading and decoding share a thread. So `Engine.load` runs on
this thread, and the scheduler's driver runs on it afterwards. The driver may
change the team's size between steps when other processes take cores
(`engine._threads.ThreadGovernor`, docs/threads.md).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["ComputeThread"]

T = TypeVar("T")


class ComputeThread:
    """A daemon thread running submitted callables one after another.

    Args:
        name: The thread's name (shows in debuggers and profilers).
    """

    def __init__(self, name: str = "engine-compute") -> None:
        """Start the thread."""
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], threading.Event, list[Any]] | None]
        self._jobs = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while (job := self._jobs.get()) is not None:
            fn, done, out = job
            try:
                out.append((True, fn()))
            except BaseException as exc:  # handed to the caller, re-raised there
                out.append((False, exc))
            finally:
                done.set()

    def start(self, fn: Callable[[], Any]) -> threading.Event:
        """Queue ``fn``; the returned event is set when it has returned (or raised)."""
        done = threading.Event()
        self._jobs.put((fn, done, []))
        return done

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the thread and return its result (or raise its exception)."""
        if threading.current_thread() is self._thread:
            return fn()
        done, out = threading.Event(), []  # type: ignore[var-annotated]
        self._jobs.put((fn, done, out))
        done.wait()
        ok, value = out[0]
        if not ok:
            raise value
        return value  # type: ignore[no-any-return]

    def stop(self) -> None:
        """Let the thread end once the queued jobs are done."""
        self._jobs.put(None)
