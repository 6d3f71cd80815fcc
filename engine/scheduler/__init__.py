"""Continuous batching for the engine: scheduler, prefix cache, admission control.

Example::

    sched = Scheduler(engine, SchedulerConfig(), DrafterFactory(engine.loaded, settings, 4))
    async for event in sched.submit(engine.encode(prompt), SamplingParams(max_tokens=64)):
        ...
"""

from engine.scheduler._config import SchedulerConfig, SchedulerStats
from engine.scheduler._errors import DeadlineError, QueueFullError, SchedulerClosedError
from engine.scheduler._prefix_cache import PrefixCache, PrefixCacheStats, PrefixHit
from engine.scheduler._scheduler import Scheduler

__all__ = [
    "DeadlineError",
    "PrefixCache",
    "PrefixCacheStats",
    "PrefixHit",
    "QueueFullError",
    "Scheduler",
    "SchedulerClosedError",
    "SchedulerConfig",
    "SchedulerStats",
]
