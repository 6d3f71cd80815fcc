"""``agentkit bench speculative``: llama.cpp alternated with ours, round by round."""

from __future__ import annotations

import pytest

from engine import kernels
from engine.bench import speculative
from engine.bench.tasks import SPEC_TASKS


def test_llamacpp_runs_once_per_round_before_ours_and_the_column_uses_its_median(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    order: list[str] = []
    speeds = iter([100.0, 300.0, 200.0])

    def peer(prompts: dict[str, list[int]], threads: int, new_tokens: int) -> dict[str, float]:
        order.append("llama.cpp")
        return dict.fromkeys(prompts, next(speeds))

    monkeypatch.setattr(speculative, "_llamacpp_speeds", peer)
    task = next(iter(SPEC_TASKS))
    bench = speculative.run_speculative_bench(
        threads=1, new_tokens=6, tasks=(task,), rounds=3, progress=order.append
    )
    configs = len(bench.rows)
    per_round = ["llama.cpp"] + [f"{task} · " for _ in range(configs)]
    assert [o if o == "llama.cpp" else o[: len(task) + 3] for o in order] == per_round * 3
    assert bench.llamacpp_rounds == {task: [100.0, 300.0, 200.0]}
    assert bench.llamacpp_tokens_per_s == {task: 200.0}
    for row in bench.rows:
        assert row.exact
        assert row.speedup_vs_llamacpp == pytest.approx(row.tokens_per_s / 200.0)
    assert bench.to_json()["llamacpp_rounds"] == {task: [100.0, 300.0, 200.0]}
    assert bench.to_json()["kernel_path"] == kernels.kernel_path() != ""


def test_llamacpp_median_round_follows_ours_for_an_even_count(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # ours: the round of median time, the lower middle one for an even count (the faster);
    # llama.cpp's column must use the same round, not the mean of the two middle speeds
    speeds = iter([100.0, 300.0])

    def peer(prompts: dict[str, list[int]], threads: int, new_tokens: int) -> dict[str, float]:
        return dict.fromkeys(prompts, next(speeds))

    monkeypatch.setattr(speculative, "_llamacpp_speeds", peer)
    task = next(iter(SPEC_TASKS))
    bench = speculative.run_speculative_bench(threads=1, new_tokens=6, tasks=(task,), rounds=2)
    assert bench.llamacpp_tokens_per_s == {task: 300.0}
