"""A private event loop in a daemon thread, and awaiting its work from any other loop.

An MCP connection is a set of tasks (pipe readers, an HTTP stream, the session)
that must live as long as the connection, not as long as one turn. They live
here, in the server's own loop, so that:

- a connection outlives the event loop of the caller that opened it
  (`Runner.run_sync` starts and ends a loop per turn);
- a transport whose task group fails (a server that crashes mid-call) cancels
  tasks of this loop, never the caller's turn;
- callers on asyncio or trio alike await it the same way.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import Future
from contextlib import suppress
from typing import Any, TypeVar, cast

import anyio
import anyio.lowlevel
from anyio.abc import TaskGroup
from anyio.from_thread import BlockingPortal

__all__ = ["LoopThread"]

_T = TypeVar("_T")
_STOP_JOIN_S = 10.0  # a stop waits this long for the thread (connections close within it)


def _waker(event: anyio.Event) -> Callable[[], None]:
    """A thread-safe, non-blocking ``event.set`` into the current (caller's) loop."""
    native = anyio.lowlevel.current_token().native_token
    if isinstance(native, asyncio.AbstractEventLoop):
        loop = native

        def wake() -> None:
            with suppress(RuntimeError):  # the caller's loop is closed: nobody waits
                loop.call_soon_threadsafe(event.set)

        return wake
    run_soon = cast(Callable[[Callable[[], None]], None], cast(Any, native).run_sync_soon)

    def wake_trio() -> None:
        with suppress(Exception):  # trio.RunFinishedError: nobody waits
            run_soon(event.set)

    return wake_trio


class LoopThread:
    """An anyio event loop in a daemon thread, started on first use, stopped by `stop`.

    Args:
        name: The thread's name (shows in thread dumps and logs).
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._lock = threading.Lock()
        self._portal: BlockingPortal | None = None
        self._group: TaskGroup | None = None
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        """Whether the thread is running."""
        return self._portal is not None

    def _ensure(self) -> BlockingPortal:
        with self._lock:
            return self._portal if self._portal is not None else self._start()

    def _start(self) -> BlockingPortal:
        ready = threading.Event()
        started: list[BlockingPortal] = []

        async def main() -> None:
            async with anyio.create_task_group() as group, BlockingPortal() as portal:
                self._group, self._portal = group, portal
                started.append(portal)
                ready.set()
                await portal.sleep_until_stopped()
                group.cancel_scope.cancel()

        # A daemon: a process that never closes its servers still exits (their pipes
        # close with it, and a stdio server exits on end of input).
        self._thread = threading.Thread(target=anyio.run, args=(main,), name=self.name, daemon=True)
        self._thread.start()
        ready.wait()
        return started[0]

    def spawn(self, fn: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Start a background task in this loop; call from inside it only."""
        if self._group is None:
            raise RuntimeError("the loop thread is not running")
        self._group.start_soon(fn)

    async def call(self, fn: Callable[[], Awaitable[_T]]) -> _T:
        """Run ``fn()`` in this loop and await its result from the caller's loop.

        Cancelling the caller cancels ``fn`` there. Starts the thread if needed.
        """
        portal = self._ensure()
        done = anyio.Event()
        wake = _waker(done)
        future: Future[_T] = portal.start_task_soon(fn)
        future.add_done_callback(lambda _: wake())
        try:
            await done.wait()
        except BaseException:
            future.cancel()
            raise
        return future.result()

    def call_blocking(self, fn: Callable[[], Awaitable[_T]]) -> _T | None:
        """Run ``fn()`` in this loop from synchronous code; None when the thread is not running."""
        with self._lock:
            portal = self._portal
        return None if portal is None else portal.call(fn)

    def stop(self) -> None:
        """Cancel what still runs in the loop and end the thread (blocking; idempotent)."""
        with self._lock:
            portal, thread = self._portal, self._thread
            self._portal = self._group = self._thread = None
        if portal is not None:
            with suppress(RuntimeError):  # already stopping
                portal.call(portal.stop, True)
        if thread is not None and thread is not threading.current_thread():
            thread.join(_STOP_JOIN_S)
