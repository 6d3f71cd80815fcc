"""`Scheduler`: iteration-level (Orca-style) continuous batching over the engine's KV slots.

Requests join and leave the running batch between steps. A single driver
thread runs the steps: each is one ragged forward over every live row
(prompt chunks of newcomers, and each decoding request's last token plus its
draft), so running streams keep flowing while a long prompt prefills in
chunks. The driver is a thread rather than a task of one event loop because
an engine is shared by callers on different loops (the server, tests, the
CLI); callers await their events on their own loop.

Between steps the driver admits waiting requests (earliest virtual deadline
first, see `AdmissionQueue`), reusing prefix-cache slots, and finishes
requests that stopped, ran out of time ("deadline") or were cancelled.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

import anyio
import torch

from engine._errors import CapacityError
from engine._runner import ModelRunner
from engine._types import SamplingParams
from engine.scheduler._admission import AdmissionQueue, ServiceEstimate
from engine.scheduler._batch import StepPlan, plan_step, run_step
from engine.scheduler._buckets import OutputLengths, RowMeter, bucket_key
from engine.scheduler._config import SchedulerConfig, SchedulerStats, validate
from engine.scheduler._errors import DeadlineError, SchedulerClosedError
from engine.scheduler._events import empty_result, finish_events, progress_events
from engine.scheduler._prefix_cache import PrefixCache
from engine.scheduler._request import Request, RequestStream
from engine.scheduler._slots import live_sharer, release_slot, slot_for
from engine.speculative._factory import DrafterFactory

__all__ = ["Scheduler"]


def _log(level: str, event: str, **fields: Any) -> None:
    """Log through structlog only if the application imported it (the engine never does)."""
    structlog = sys.modules.get("structlog")
    if structlog is not None:
        getattr(structlog.get_logger(__name__), level)(event, **fields)


class Scheduler:
    """Continuous batching with in-batch speculation, prefix reuse and admission control.

    Args:
        engine: what runs the steps: an `engine.Engine` (any `engine._runner.ModelRunner`).
        config: scheduler settings.
        drafters: builds each request's drafters; None decodes plainly.
    """

    def __init__(
        self,
        engine: ModelRunner,
        config: SchedulerConfig | None = None,
        drafters: DrafterFactory | None = None,
    ) -> None:
        """Set up queues; the driver thread starts with the first request."""
        self.engine = engine
        self.config = config or SchedulerConfig()
        self.drafters = drafters
        self.cache = engine.cache
        c = self.config
        self.prefix = (
            PrefixCache(self.cache, c.prefix_block, max_tokens=c.prefix_max_tokens)
            if c.prefix_cache
            else None
        )
        self._cv = threading.Condition()
        self._queue: AdmissionQueue[Request] = AdmissionQueue(c.max_queue)
        self._running: list[Request] = []
        self._thread: threading.Thread | None = None
        self._driver_done: threading.Event | None = None  # driver on the engine's thread
        self._closed = False
        self._in_step = False
        self._steps = 0
        self._capped_steps = 0
        self._deferred = 0
        self._threads = engine.threads  # OpenMP threads the driver runs steps with
        self.meter = RowMeter()
        self.estimate = ServiceEstimate()
        self.lengths = OutputLengths()

    # ---- caller side -------------------------------------------------------------

    def submit(
        self,
        prompt: list[int],
        params: SamplingParams | None = None,
        deadline: float | None = None,
        priority: int = 0,
        stats_every: int | None = None,
        stop_on: anyio.Event | None = None,
    ) -> RequestStream:
        """Queue a request; iterate the returned stream for its events.

        Args:
            prompt: prompt token ids.
            params: sampling parameters (default: greedy, 256 tokens).
            deadline: absolute ``time.monotonic()`` by which it must be done; a
                request that cannot start before it is rejected.
            priority: larger runs first among waiting requests.
            stats_every: decode steps between `StatsEvent` snapshots (default:
                the config's; 0: none).
            stop_on: once set, the request ends with finish_reason "cancelled"
                and its result (the caller keeps iterating to get it).

        Raises:
            QueueFullError: the queue is full.
            DeadlineError: the deadline passed or the estimated start is later.
            ContextOverflowError, InvalidSamplingError: a bad prompt or schema.
            CapacityError: every slot is held outside the scheduler (none can free up).
            SchedulerClosedError: the scheduler was closed.
        """
        params = params or SamplingParams()
        req = Request(list(prompt), params, deadline, priority, time.monotonic())
        req.stats_every = self.config.stats_every if stats_every is None else stats_every
        validate(self.engine, req)
        with self._cv:
            if self._closed:
                raise SchedulerClosedError("the scheduler is closed")
            if not self.cache.free_slots and not self._running:
                # every slot is held outside the scheduler: none will come back to us
                raise CapacityError(f"all {self.cache.n_slots} KV-cache slots are in use")
            self._check_deadline(req)
            self._rank(req)
            self._queue.push(req, priority, req.virtual_deadline)
            self._ensure_driver()
            self._cv.notify()
        return RequestStream(req, self.cancel, self.stop, stop_on)

    def cancel(self, req: Request) -> None:
        """Stop ``req``: drop it from the queue, or free its slot (at once between steps)."""
        with self._cv:
            if req.done:
                return
            req.cancelled = True
            if self._queue.remove(req):
                req.done = True
            elif req in self._running and not self._in_step:
                self._finish(req, "cancelled")
            self._cv.notify()

    def stop(self, req: Request, reason: str = "cancelled") -> None:
        """End ``req`` with ``reason`` as its finish reason; its result is still delivered."""
        with self._cv:
            if req.done:
                return
            req.stop_reason = reason
            if self._queue.remove(req):
                req.done = True
                req.post(empty_result(req, reason))
            elif req in self._running and not self._in_step:
                self._finish(req, reason)
            self._cv.notify()

    def forget_slot(self, slot: int) -> None:
        """``slot`` was allocated outside the scheduler: drop its cached prefix, if any."""
        with self._cv:
            if self.prefix is not None:
                self.prefix.forget(slot)

    def stats(self) -> SchedulerStats:
        """A consistent snapshot of the counters."""
        with self._cv:
            return SchedulerStats(
                running=len(self._running),
                waiting=len(self._queue),
                free_slots=self.cache.free_slots,
                steps=self._steps,
                rows=self.meter.rows,
                wasted_fraction=self.meter.fraction,
                prefix=self.prefix.stats() if self.prefix is not None else None,
                capped_steps=self._capped_steps,
                deferred=self._deferred,
                threads=self._threads,
            )

    def close(self) -> None:
        """Stop the driver; waiting and running requests get `SchedulerClosedError`."""
        with self._cv:
            self._closed = True
            self._cv.notify()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._driver_done is not None:
            self._driver_done.wait()
            self._driver_done = None

    # ---- admission ---------------------------------------------------------------

    def _check_deadline(self, req: Request) -> None:
        if req.deadline is None:
            return
        now = req.arrival
        if req.deadline <= now:
            raise DeadlineError("the deadline has already passed")
        delay = self.estimate.start_delay(
            len(self._queue), self.cache.free_slots, self.cache.n_slots
        )
        if now + delay > req.deadline:
            raise DeadlineError(
                f"cannot start before the deadline (estimated start in {delay:.3f} s)",
                estimated_start_s=delay,
            )

    def _rank(self, req: Request) -> None:
        """Set ``req``'s virtual deadline and whether it is urgent (both fixed at arrival)."""
        c = self.config
        expected = self.lengths.expected(req.params.max_tokens)
        p_bucket, o_bucket = bucket_key(len(req.ids), expected)
        # the bucket's upper bound, so requests of one bucket stay first come, first served
        work = 16 * (2 ** (p_bucket + 1)) // c.prefill_chunk + 16 * 2 ** (o_bucket + 1)
        vd: float = req.arrival + c.slack_per_token_s * work
        tight = req.deadline is not None and req.deadline < vd
        req.virtual_deadline = min(vd, req.deadline) if req.deadline is not None else vd
        req.urgent = expected <= c.urgent_output_tokens or tight

    def _admit(self, now: float) -> None:
        for req in self._queue.items():
            if req.deadline is not None and req.deadline <= now:
                self._queue.remove(req)
                req.done = True
                req.post(DeadlineError("the deadline passed before the request could start"))
        deferred: list[Request] = []
        while len(self._queue) and self._take_slot_possible():
            nxt = self._queue.pop()
            if nxt is None:
                break
            if live_sharer(self.prefix, self._running, nxt.ids, done=False) is not None:
                deferred.append(nxt)  # its prefix is being prefilled: copy it in a few steps
                continue
            try:
                self._start(nxt, now)
            except CapacityError:  # a slot was taken outside the scheduler meanwhile
                deferred.append(nxt)
                break
            except Exception as exc:  # fail this request, never the driver
                nxt.done = True
                nxt.post(exc)
        for req in deferred:
            self._queue.push(req, req.priority, req.virtual_deadline)

    def _take_slot_possible(self) -> bool:
        cap = self.config.max_batch
        if cap is not None and len(self._running) >= cap:
            return False
        return self.cache.free_slots > 0

    def _start(self, req: Request, now: float) -> None:
        """Give ``req`` a slot and its decoding state; on any failure the slot goes back."""
        slot, reused = slot_for(self.cache, self.prefix, self._running, req.ids)
        eng = self.engine
        try:
            req.seq = req.new_sequence(slot, eng.tokenizer, eng.config.eos_token_ids)
            req.spec = self.drafters.new_state() if self.drafters is not None else None
        except BaseException:
            req.seq = None
            release_slot(self.cache, self.prefix, slot)
            raise
        req.prefilled = req.reused = reused
        req.admitted_at = now
        self._running.append(req)

    # ---- the driver --------------------------------------------------------------

    def _ensure_driver(self) -> None:
        compute = self.engine.compute
        if compute is not None:  # run where the model was loaded: one OpenMP team
            if self._driver_done is None or self._driver_done.is_set():
                self._driver_done = compute.start(self._drive)
            return
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(
                target=self._drive, name="engine-scheduler", daemon=True
            )
            self._thread.start()

    def _drive(self) -> None:
        # OpenMP's thread count is per calling thread: give the driver the engine's.
        governor = self.engine.governor
        self._threads = governor.threads if governor is not None else self.engine.threads
        torch.set_num_threads(self._threads)
        while True:
            with self._cv:
                while not self._closed and not (len(self._queue) or self._running):
                    self._cv.wait()
                if self._closed:
                    self._drop_all()
                    return
                self._admit(time.monotonic())
                plan = self._plan()
                if plan.empty:  # e.g. every waiting request defers to a sharer: no spin
                    self._cv.wait(0.005)
                    continue
                self._in_step = True
            if governor is not None and (n := governor.poll()) is not None:
                # between steps, so every step runs with one team size (docs/threads.md)
                torch.set_num_threads(n)
                self._threads = n
            t0 = time.monotonic()
            error: BaseException | None = None
            try:
                rows, wasted = run_step(self.engine, plan)
                self.meter.add(rows, wasted)
            except Exception as exc:  # a failed step fails its requests, never the driver
                _log("exception", "scheduler.step_failed")
                error = exc
            with self._cv:
                self._in_step = False
                self._steps += 1
                self._capped_steps += plan.capped
                self._deferred += plan.deferred
                self.estimate.observe("step_s", time.monotonic() - t0)
                try:
                    self._after_step(plan, error)
                except Exception as exc:  # fail what ran, keep the driver alive
                    _log("exception", "scheduler.after_step_failed")
                    for req in [r for r in self._running if not r.done]:
                        self._finish(req, None, exc)

    def _plan(self) -> StepPlan:
        g_max = self.drafters.settings.gamma_max if self.drafters is not None else 0
        return plan_step(self._running, self.config, g_max)

    def _after_step(self, plan: StepPlan, error: BaseException | None) -> None:
        now = time.monotonic()
        stepped = {id(r) for r, _ in plan.prefill} | {id(r) for r in plan.decode}
        for req in list(self._running):
            seq = req.seq
            assert seq is not None
            if req.cancelled:
                self._finish(req, "cancelled")
            elif error is not None and id(req) in stepped:
                self._finish(req, None, error)
            elif seq.finish_reason is not None:
                self._finish(req, seq.finish_reason)
            elif req.stop_reason is not None:
                self._finish(req, req.stop_reason)
            elif req.deadline is not None and now >= req.deadline:
                self._finish(req, "deadline")
            elif seq.output:
                if req.first_at is None:
                    req.first_at = now
                for ev in progress_events(req, req.stats_every, now):
                    req.post(ev)

    def _finish(self, req: Request, reason: str | None, error: BaseException | None = None) -> None:
        """End ``req``: post its last events (or error) and park or free its slot."""
        seq = req.seq
        assert seq is not None
        now = time.monotonic()
        self._running.remove(req)
        req.done = True
        req.ended_step = self._steps
        if error is not None:
            req.post(error)
        elif not req.cancelled:
            if seq.finish_reason is None:
                seq.finish_reason = reason  # type: ignore[assignment]
                seq.text += seq.detok.flush()
            if seq.output and req.first_at is None:
                req.first_at = now
            for ev in finish_events(req, now):
                req.post(ev)
        if self.drafters is not None:
            self.drafters.release(req.spec)
        tokens = (req.ids + seq.output)[: self.cache.lengths[seq.slot]]
        if self.prefix is not None and error is None:
            self.prefix.park(seq.slot, tokens)
        else:
            self.cache.free(seq.slot)
        self.lengths.observe(req.params.max_tokens, len(seq.output))
        self.estimate.observe("request_s", now - req.admitted_at)

    def _drop_all(self) -> None:
        closed = SchedulerClosedError("the scheduler was closed")
        while (req := self._queue.pop()) is not None:
            req.done = True
            req.post(closed)
        for req in list(self._running):
            self._finish(req, None, closed)
        if self.prefix is not None:
            self.prefix.clear()
