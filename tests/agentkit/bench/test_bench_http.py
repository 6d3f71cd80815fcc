"""`agentkit bench http`: real `agentkit serve` children and the official client; pure parts."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agentkit.bench import _peers
from agentkit.bench._http import HttpRow, Sample, round_ratios, run_http_bench, summarise_rows
from agentkit.bench._peers import (
    LLAMA_SERVER_ENV,
    PEER_SAMPLING,
    find_llama_server,
    llama_server_args,
    llamacpp_python_args,
    peer_skip_reason,
)
from engine.bench._peer import PEER_PYTHON_ENV

pytest.importorskip("engine")


def test_http_bench_gives_both_of_our_servers_the_same_prompts_every_round(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = tmp_path / "llama-server"  # a peer that dies at start is reported, not fatal
    broken.write_text("#!/bin/sh\nexit 3\n")
    no_llama_cpp = tmp_path / "python"
    no_llama_cpp.write_text("#!/bin/sh\nexit 1\n")
    for f in (broken, no_llama_cpp):
        f.chmod(0o755)
    monkeypatch.setenv(LLAMA_SERVER_ENV, str(broken))
    monkeypatch.setenv(PEER_PYTHON_ENV, str(no_llama_cpp))
    bench = run_http_bench(threads=1, new_tokens=4, rounds=2)
    servers = {r.server for r in bench.rows}
    assert servers == {"agentkit", "agentkit+spec"}
    assert len({r.task for r in bench.rows}) == 4 and len(bench.rows) == 8
    prompt = {(r.server, r.task): r.prompt_tokens for r in bench.rows}
    for row in bench.rows:
        assert 0 < row.completion_tokens <= 4 and row.rounds == 2
        assert row.ttft_ms > 0 and row.e2e_tokens_per_s > 0
        assert row.ttft_range_ms[0] <= row.ttft_ms <= row.ttft_range_ms[1]
        assert row.prompt_tokens == prompt["agentkit", row.task] and row.prompt_tokens
        if row.server == "agentkit+spec":  # speculation emits plain greedy's tokens
            assert row.same_count_as_ours and row.same_text_as_ours
    assert bench.ratio_e2e_vs_llamacpp is None and bench.ratio_e2e_spec_vs_llamacpp is None
    data = bench.to_json()
    assert "exited with 3" in data["peers"]["llama-server"]["skipped"]
    assert "not installed" in data["peers"]["llama-cpp-python"]["skipped"]
    assert data["ratios"] == {} and data["rounds"] == 2 and data["machine"]["cpu_flags"] is not None


def _s(tokens: int, ttft: float, decode: float, text: str = "x") -> Sample:
    return Sample(tokens, 20, ttft, decode, ttft + decode, text)


def test_rows_report_medians_ranges_and_agreement_with_ours() -> None:
    samples = {
        "agentkit": {"t": [_s(11, 0.1, 1.0), _s(11, 0.3, 0.5), _s(11, 0.2, 2.0)]},
        "llama-server": {"t": [_s(11, 0.4, 1.0), _s(11, 0.4, 1.0), _s(11, 0.4, 1.0, "y")]},
    }
    mine, theirs = summarise_rows(samples)
    assert mine.server == "agentkit" and mine.same_count_as_ours is None
    assert mine.ttft_ms == pytest.approx(200.0) and mine.ttft_range_ms == pytest.approx((100, 300))
    assert mine.decode_tokens_per_s == 10.0 and mine.decode_range == (5.0, 20.0)
    assert mine.prompt_tokens == 20 and mine.rounds == 3
    assert theirs.same_count_as_ours is True and theirs.same_text_as_ours is False


def test_ratios_are_taken_round_by_round_over_all_tasks() -> None:
    samples = {
        "agentkit": {"a": [_s(11, 0.1, 1.0), _s(11, 0.1, 1.0)], "b": [_s(3, 0.1, 1.0)] * 2},
        "llama-server": {"a": [_s(11, 0.2, 2.0), _s(11, 0.1, 1.0)], "b": [_s(3, 0.2, 2.0)] * 2},
    }
    r = round_ratios(samples, "agentkit", "llama-server")
    # round 1: ours 12 tokens after the first in 2 s, theirs in 4 s; round 2: theirs in 3 s
    assert r["decode"] == pytest.approx({"median": 1.75, "low": 1.5, "high": 2.0, "n": 2})
    assert r["ttft"]["low"] == pytest.approx(0.2 / 0.4) and r["ttft"]["high"] == pytest.approx(
        0.2 / 0.3
    )


def test_rate_of_a_row_is_its_own_tokens_over_its_time() -> None:
    row = HttpRow("a", "x", 10, 1.0, 10.0)
    assert row.decode_tokens_per_s == 0.0 and row.same_count_as_ours is None


def test_peers_are_configured_as_their_users_run_them() -> None:
    cmd = llama_server_args("/bin/llama-server", "/m.gguf", 8080, 2)
    joined = " ".join(cmd)
    for part in ("-t 2", "-tb 2", "-fa on", "--host 127.0.0.1", "--port 8080", "-m /m.gguf",
                 "--temp 0", "--top-k 1", "--repeat-penalty 1.0"):  # fmt: skip
        assert part in joined
    py = " ".join(llamacpp_python_args("/m.gguf", 8081, 2))
    for part in ("--n_threads 2", "--n_threads_batch 2", "--flash_attn true",
                 "--logits_all false", "--host 127.0.0.1", "-m llama_cpp.server"):  # fmt: skip
        assert part in py
    assert PEER_SAMPLING == {"top_k": 1, "repeat_penalty": 1.0}


def test_llama_server_is_found_by_env_and_skipped_with_a_line_when_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_peers, "_CACHE_BIN", tmp_path / "none")
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv(LLAMA_SERVER_ENV, raising=False)
    assert find_llama_server() is None
    reason = peer_skip_reason("llama-server")
    assert reason is not None and "make llama-server" in reason
    fake = tmp_path / "llama-server-bin"
    fake.write_text("#!/bin/sh\n")
    os.chmod(fake, 0o755)
    monkeypatch.setenv(LLAMA_SERVER_ENV, str(fake))
    assert find_llama_server() == fake and peer_skip_reason("llama-server") is None


@pytest.mark.slow
@pytest.mark.skipif(find_llama_server() is None, reason="needs llama-server (make llama-server)")
def test_llama_server_gets_the_same_prompt_tokens_as_ours() -> None:
    bench = run_http_bench(threads=2, new_tokens=8, rounds=1)
    rows = {(r.server, r.task): r for r in bench.rows}
    for task in ("math", "open_chat"):
        assert rows["llama-server", task].prompt_tokens == rows["agentkit", task].prompt_tokens
    info = bench.peers["llama-server"]
    assert info["version"] and info["system_info"].startswith("system_info:")
    assert "-fa" in info["command"] and "AVX" in info["system_info"]
    assert bench.ratios["agentkit/llama-server"]["decode"]["median"] > 0


def test_system_info_is_read_from_a_llama_cpp_log() -> None:
    log = "0.00.1 I srv init\n0.00.005 I cmn  common_param: system_info: n_threads = 2 | AVX2 = 1\n"
    assert _peers._system_info(log) == "system_info: n_threads = 2 | AVX2 = 1"
    assert _peers._system_info("nothing here\n") == ""
