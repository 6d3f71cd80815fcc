"""Warm start of an in-process engine: loaded and primed in a background thread.

`EngineModel` starts `load_in_background` when it is built without an engine,
and a turn that finds the engine still loading waits for it (`wait_for`)
outside its budget. Priming (`_prime`) pays for the kernels' first calls and
the grammar tokenizer's first use before any turn.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread
import structlog

if TYPE_CHECKING:
    from engine import Engine

__all__ = ["load_in_background", "wait_for"]

_log = structlog.get_logger("agentkit")


async def wait_for(loading: Future[Engine]) -> Engine:
    """The background load's engine, waited for in a worker thread (cancellable)."""
    return await anyio.to_thread.run_sync(loading.result, abandon_on_cancel=True)


def load_in_background(path: str, options: dict[str, Any], name: str) -> Future[Engine]:
    """Start loading (and priming) an engine in a daemon thread; its future."""
    future: Future[Engine] = Future()
    future.set_running_or_notify_cancel()

    def work() -> None:
        try:
            from engine import Engine

            engine = Engine.load(path, **options)
        except BaseException as exc:  # handed to whoever waits for the engine
            future.set_exception(exc)
            return
        _prime(engine, name)
        future.set_result(engine)

    threading.Thread(target=work, name=f"agentkit-load-{name}", daemon=True).start()
    return future


def _prime(engine: Engine, name: str) -> None:
    """One-token generations, plain and under a JSON schema, on this thread's own loop.

    The first generation of a fresh engine pays for the kernels' first calls
    (~0.5 s measured), the first constrained one for the grammar tokenizer
    (~0.4 s): here they are part of loading. A failure only costs the priming.
    """
    from engine import SamplingParams

    async def prime() -> None:
        prompt = engine.render_chat([{"role": "user", "content": "Hi"}])
        await engine.generate(prompt, SamplingParams(max_tokens=1))
        await engine.generate(prompt, SamplingParams(max_tokens=1, json_schema={"type": "object"}))

    try:
        anyio.run(prime)
    except Exception as exc:
        _log.warning("engine_prime_failed", model=name, error=repr(exc))
