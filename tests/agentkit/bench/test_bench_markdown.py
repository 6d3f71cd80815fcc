"""The report's batching section states the issue's ratios from the run's own numbers."""

from __future__ import annotations

from agentkit.bench._markdown import _batching, _speculative


def _mode(tps: float, short_p99: float) -> dict[str, float]:
    return {"tokens_per_s": tps, "p50_ms": 1.0, "p99_ms": 2.0, "ttft_p99_ms": 1.0,
            "short_p99_ms": short_p99, "padding_fraction": 0.0}  # fmt: skip


def test_ratios_come_from_the_largest_concurrency() -> None:
    d = {
        "unloaded_short_ms": 200.0,
        "concurrency": {
            "4": {"sequential": _mode(10, 300), "static": _mode(10, 300), "dynamic": _mode(99, 1)},
            "16": {
                "sequential": _mode(100, 900),
                "static": _mode(50, 5000),
                "dynamic": _mode(300, 1000),
            },
        },
    }
    text = _batching(d)
    assert "At 16 clients" in text
    assert "**6.00×** static" in text and "**3.00×** sequential" in text
    assert "1000 ms against 200 ms unloaded (**5.00×**)" in text
    assert "| 16 | dynamic | 300 |" in text


def test_no_ratio_sentence_without_a_dynamic_run() -> None:
    d = {"concurrency": {"8": {"static": _mode(50, 5000)}}}
    text = _batching(d)
    assert "At 8 clients" not in text and "| 8 | static |" in text
    assert _batching(None).startswith("Not measured")


def test_speculative_section_says_how_speeds_were_taken_and_what_auto_chose() -> None:
    row = {"task": "math", "drafter": "ngram", "tokens_per_s": 150.0, "acceptance_rate": 0.5,
           "mean_accepted_length": 1.3, "speedup_vs_plain": 1.1, "speedup_vs_llamacpp": None,
           "exact": True}  # fmt: skip
    text = _speculative({"rows": [row], "rounds": 3, "auto": "ngram (why)"})
    assert "median of 3 rounds" in text and "resolves here to: ngram (why)." in text
    assert "median of" not in _speculative({"rows": [row], "rounds": 1})
