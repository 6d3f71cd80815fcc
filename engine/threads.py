"""The compute thread count: a `ThreadGovernor` adapts it to what other processes leave free.

`Engine.load` builds one; pass your own to ``Engine(...)`` to change its
`GovernorPolicy` or, in tests, to feed it `CpuSample` readings.
"""

from engine._threads import CpuSample, GovernorPolicy, ThreadGovernor

__all__ = ["CpuSample", "GovernorPolicy", "ThreadGovernor"]
