"""The pure parts of the engine-vs-peer benchmarks: round order, statistics, peer settings."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from engine.bench._machine import CPU_FLAGS, cpu_flags
from engine.bench._peer import (
    GREEDY,
    PEER_PYTHON_ENV,
    llama_settings,
    llamacpp_available,
    peer_python,
)
from engine.bench._quants import QUANTS, quant_models
from engine.bench._rounds import Spread, alternate, spread
from engine.bench.decode import BenchResult, round_ratios, summarise
from engine.loader import default_model_path


def test_rounds_alternate_ours_then_the_peer_every_round() -> None:
    order = alternate(["agentkit", "llama.cpp"], 3)
    assert [e for _, e in order] == ["agentkit", "llama.cpp"] * 3
    assert [r for r, _ in order] == [0, 0, 1, 1, 2, 2]
    assert alternate(["a", "b", "c"], 1) == [(0, "a"), (0, "b"), (0, "c")]


@pytest.mark.parametrize(("engines", "rounds"), [(["a"], 0), ([], 2), (["a", "a"], 2)])
def test_bad_round_plans_are_refused(engines: list[str], rounds: int) -> None:
    with pytest.raises(ValueError):
        alternate(engines, rounds)


def test_spread_is_the_median_and_the_range() -> None:
    assert spread([5.0, 1.0, 3.0]) == Spread(3.0, 1.0, 5.0, 3)
    assert spread([4.0, 1.0]) == Spread(2.5, 1.0, 4.0, 2)  # even count: mean of the middle two
    assert spread(iter([7.0])) == Spread(7.0, 7.0, 7.0, 1)
    with pytest.raises(ValueError):
        spread([])


def test_peer_runs_as_its_users_configure_it() -> None:
    s = llama_settings("/m.gguf", 2)
    assert s["n_threads"] == s["n_threads_batch"] == 2
    assert s["flash_attn"] is True and s["logits_all"] is False and s["model_path"] == "/m.gguf"
    assert GREEDY == {"temp": 0.0, "top_k": 1, "repeat_penalty": 1.0}


def test_cpu_flags_picks_the_kernel_relevant_subset_in_order() -> None:
    text = "processor: 0\nflags\t\t: fpu avx512_vnni sse2 avx2 fma avx512f\nmodel name: X\n"
    assert cpu_flags(text) == ["avx2", "fma", "avx512f", "avx512_vnni"]
    assert cpu_flags("no flags line") == []
    assert len(set(CPU_FLAGS)) == len(CPU_FLAGS)


def _row(task: str, ttft: float, decode_s: float, tokens: list[int]) -> dict[str, object]:
    n = len(tokens)
    return {"task": task, "prompt_tokens": 10, "new_tokens": n, "ttft_ms": ttft,
            "decode_s": decode_s, "decode_tokens_per_s": (n - 1) / decode_s,
            "peak_rss_mb": 100.0, "tokens": tokens}  # fmt: skip


def test_summarise_reports_medians_ranges_and_token_agreement() -> None:
    ours = [[_row("math", 10.0, 1.0, [1, 2, 3])], [_row("math", 30.0, 0.5, [1, 2, 3])],
            [_row("math", 20.0, 2.0, [1, 2, 3])]]  # fmt: skip
    peer = [[_row("math", 40.0, 1.0, [1, 2, 3])], [_row("math", 40.0, 1.0, [1, 2, 4])],
            [_row("math", 40.0, 1.0, [1, 2, 3])]]  # fmt: skip
    (mine,) = summarise("agentkit", ours, ours)
    assert isinstance(mine, BenchResult) and mine.rounds == 3
    assert mine.ttft_ms == 20.0 and mine.ttft_range_ms == (10.0, 30.0)
    assert mine.decode_tokens_per_s == 2.0 and mine.decode_range == (1.0, 4.0)
    assert mine.same_tokens_as_ours is None
    (theirs,) = summarise("llama.cpp", peer, ours)
    assert theirs.same_count_as_ours is True and theirs.same_tokens_as_ours is False
    short = [[_row("math", 40.0, 1.0, [1, 2])]] * 3
    assert summarise("llama.cpp", short, ours)[0].same_count_as_ours is False


def test_ratios_are_taken_round_by_round() -> None:
    ten, two = [0] * 11, [0] * 3  # 10 and 2 tokens after the first
    ours = [[_row("math", 10.0, 1.0, ten), _row("long_prompt", 50.0, 1.0, two)],
            [_row("math", 10.0, 2.0, ten), _row("long_prompt", 80.0, 1.0, two)]]  # fmt: skip
    peer = [[_row("math", 10.0, 2.0, ten), _row("long_prompt", 100.0, 1.0, two)],
            [_row("math", 10.0, 2.0, ten), _row("long_prompt", 100.0, 1.0, two)]]  # fmt: skip
    decode, ttft = round_ratios(ours, peer)
    assert decode == pytest.approx([2.0, 1.0]) and ttft == pytest.approx([0.5, 0.8])


def test_quant_models_are_the_shipped_q4_1_and_the_written_siblings(tmp_path: Path) -> None:
    models = quant_models(tmp_path)
    assert list(models) == list(QUANTS) and models["Q4_1"] == default_model_path()
    assert models["Q4_0"] is None and models["Q4_K_M"] is None
    base = default_model_path().name.removesuffix(".Q4_1.gguf")
    (tmp_path / f"{base}.Q8_0.gguf").write_bytes(b"GGUF")
    (tmp_path / f"{base}.Q4_0.gguf").write_bytes(b"")  # an interrupted write is not a model
    models = quant_models(tmp_path)
    assert models["Q8_0"] == tmp_path / f"{base}.Q8_0.gguf" and models["Q4_0"] is None


def test_the_peer_runs_under_the_python_the_env_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(PEER_PYTHON_ENV, raising=False)
    assert peer_python() == sys.executable
    has, lacks = tmp_path / "has", tmp_path / "lacks"
    has.write_text("#!/bin/sh\nexit 0\n")
    lacks.write_text("#!/bin/sh\nexit 1\n")
    for f in (has, lacks):
        f.chmod(0o755)
    monkeypatch.setenv(PEER_PYTHON_ENV, str(has))
    assert peer_python() == str(has) and llamacpp_available()
    monkeypatch.setenv(PEER_PYTHON_ENV, str(lacks))
    assert not llamacpp_available()
    monkeypatch.setenv(PEER_PYTHON_ENV, str(tmp_path / "missing"))
    assert not llamacpp_available()
