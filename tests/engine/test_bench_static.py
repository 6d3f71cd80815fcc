"""The batching benchmark's static baseline: full batches, released together, same settings."""

from __future__ import annotations

import anyio
import pytest

from engine import Engine
from engine.bench._static import Batch, run_static
from engine.bench._workload import Job, Record
from engine.bench.batching import _scheduler


def test_static_batcher_runs_full_batches_and_releases_each_together() -> None:
    jobs = [Job("customer_service", [i], 4) for i in range(6)]
    clients = [jobs[i::3] for i in range(3)]  # 3 closed-loop clients, 2 requests each
    sizes: list[int] = []

    async def run_batch(batch: Batch) -> list[Record]:
        sizes.append(len(batch))
        await anyio.sleep(0.01)
        return [Record(j.kind, j.max_tokens, 1.0, 0.5) for j, _ in batch]

    recs = anyio.run(run_static, clients, 2, run_batch)
    assert len(recs) == 6 and all(r.e2e_s == 1.0 for r in recs)
    assert sizes[0] == 2 and sum(sizes) == 6 and max(sizes) == 2  # never more than a batch


@pytest.mark.parametrize("speculation", [False, True])
def test_static_runs_on_the_settings_dynamic_runs_on(
    default_engine: Engine, speculation: bool
) -> None:
    static = _scheduler(default_engine, "static", speculation, None)
    dynamic = _scheduler(default_engine, "dynamic", speculation, None)
    try:
        assert static.config == dynamic.config and static.config.prefix_cache
        assert static.drafters is not None and dynamic.drafters is not None
        assert static.drafters.mode == dynamic.drafters.mode
    finally:
        static.close()
        dynamic.close()
