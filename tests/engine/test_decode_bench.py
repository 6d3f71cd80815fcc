"""The decode benchmark's plumbing: child processes, JSON shape, the long prompt."""

from __future__ import annotations

import pytest

from engine import Engine
from engine.bench._peer import llamacpp_available
from engine.bench.decode import run_decode_bench
from engine.bench.tasks import LONG_TASK, TASK_PROMPTS, long_prompt


def test_long_prompt_reaches_the_requested_length(default_engine: Engine) -> None:
    def count(messages: list[dict[str, str]]) -> int:
        return len(default_engine.encode(default_engine.render_chat(messages)))

    for target in (120, 500):
        n = count(long_prompt(target, count))
        assert target < n <= target + 40  # one policy clause over the target at most


def test_decode_bench_runs_our_engine_in_a_child_and_reports_load_and_memory() -> None:
    bench = run_decode_bench(tasks=("open_chat",), new_tokens=6, with_llamacpp=False, rounds=1)
    data = bench.to_json()
    (row,) = data["results"]
    assert row["engine"] == "agentkit" and row["task"] == "open_chat"
    assert row["new_tokens"] == 6 and row["prompt_tokens"] > 10
    assert row["decode_tokens_per_s"] > 0 and row["ttft_ms"] > 0
    assert data["ratio_decode_vs_llamacpp"] is None and data["ratio_ttft_long_vs_llamacpp"] is None
    assert data["load_ms"] > 0 and data["rss_budget_mb"] > data["rss_growth_mb"] > 0
    assert row["rounds"] == 1 and row["decode_range"][0] <= row["decode_tokens_per_s"]
    assert row["same_tokens_as_ours"] is None  # our own row
    assert isinstance(data["machine"]["cpu_flags"], list) and data["machine"]["cpu"]
    assert data["machine"]["torch"] and data["model"].endswith(".gguf")
    assert data["peer"]["skipped"].startswith("llama.cpp peer skipped")
    assert data["bandwidth"]["gb_per_s"] > 0 and data["bandwidth_bound_tok_s"] > 0
    assert data["bandwidth_fraction"] == pytest.approx(
        row["decode_tokens_per_s"] / data["bandwidth_bound_tok_s"]
    )


@pytest.mark.slow
@pytest.mark.skipif(not llamacpp_available(), reason="needs the bench extra (llama-cpp-python)")
def test_decode_bench_times_llamacpp_on_the_same_prompt_tokens() -> None:
    bench = run_decode_bench(tasks=("math", LONG_TASK), new_tokens=8, rounds=2)
    rows = {(r.engine, r.task): r for r in bench.results}
    for task in ("math", LONG_TASK):
        assert rows["agentkit", task].prompt_tokens == rows["llama.cpp", task].prompt_tokens
    assert rows["llama.cpp", LONG_TASK].prompt_tokens > 500
    assert bench.ratio_decode_vs_llamacpp is not None and bench.ratio_decode_vs_llamacpp > 0
    assert bench.ratio_ttft_long_vs_llamacpp is not None
    assert set(TASK_PROMPTS) >= {"math"}
    assert rows["llama.cpp", "math"].same_count_as_ours  # both ignore EOS
    assert bench.peer["version"] and "AVX" in bench.peer["system_info"]
    assert bench.peer["settings"]["flash_attn"] is True and bench.rounds == 2
