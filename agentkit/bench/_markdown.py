"""Render the benchmark report's Markdown from measured results (no typed-in numbers)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from agentkit.bench.stats import percentile

__all__ = ["render_markdown"]


def _f(value: Any, digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _table(header: list[str], rows: list[list[Any]], digits: int = 1) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_f(c, digits) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _headline(results: dict[str, Any]) -> str:
    rows = [
        [
            tier,
            percentile(d["latencies_ms"], 50),
            percentile(d["latencies_ms"], 99),
            d["tokens_per_s"],
        ]
        for tier, d in results.get("tiers", {}).items()
    ]
    text = _table(["tier (64 new tokens, routine requests)", "p50 ms", "p99 ms", "tokens/s"], rows)
    routing = results.get("eval", {}).get("routing")
    safety = results.get("eval", {}).get("safety")
    if routing:
        text += (
            "\n\nRouting is scored on the whole dev set, which includes the 80% the shipped "
            "router was trained on: an optimistic number. Held-out and leave-one-source-out "
            "numbers are in `routing.md`."
        )
        text += "\n\n" + _table(
            ["routing (dev set)", "escalation recall", "false escalation (routine)",
             "XSTest false flags", "moderation AUPRC", "p50 ms", "p99 ms"],
            [["router + safety", routing.get("escalation_recall"),
              routing.get("false_escalation_routine"),
              (safety or routing).get("xstest_false_flag"),
              (safety or routing).get("moderation_auprc"),
              routing.get("latency_ms_p50"), routing.get("latency_ms_p99")]],
            digits=3,
        )  # fmt: skip
    return text


def _span(pair: Any) -> str:
    """``low–high`` of a measured range (``–`` when a run has none)."""
    return f"{pair[0]:.1f}–{pair[1]:.1f}" if pair else "–"


def _peer_line(name: str, info: dict[str, Any]) -> str:
    if "skipped" in info:
        return f"- {info['skipped']}"
    return f"- {name} {info.get('version', '?')}: `{info.get('system_info', '')}`"


def _decode(d: dict[str, Any]) -> str:
    rows = [
        [r["engine"], r["task"], r["ttft_ms"], _span(r.get("ttft_range_ms")),
         r["decode_tokens_per_s"], _span(r.get("decode_range")), r.get("same_tokens_as_ours"),
         r["peak_rss_mb"]]
        for r in d["results"]
    ]  # fmt: skip
    table = _table(
        ["engine", "task", "TTFT ms", "range", "decode tok/s", "range", "same tokens",
         "peak RSS MB"], rows,
    )  # fmt: skip
    peer = d.get("peer") or {}
    return (
        f"{table}\n\nDecode ratio, ours / llama-cpp-python (the four chat tasks): "
        f"**{_f(d['ratio_decode_vs_llamacpp'], 2)}** "
        f"(rounds {_span(d.get('ratio_decode_range'))}). "
        "Time to first token on the long_prompt task (~500 tokens), ours / llama-cpp-python: "
        f"**{_f(d.get('ratio_ttft_long_vs_llamacpp'), 2)}** "
        f"(lower is better). Our model loads in {_f(d.get('load_ms'), 0)} ms after "
        f"`import torch`; RSS grows {_f(d.get('rss_growth_mb'), 0)} MB "
        f"(bound: 1.5 × GGUF + KV cache = {_f(d.get('rss_budget_mb'), 0)} MB). Each engine runs "
        f"in a fresh process per round, {d.get('rounds', 3)} rounds alternated (ours, peer, ...): "
        "medians, with the rounds' range; the decode rate leaves out the first token (in "
        f"TTFT).\n\n{_peer_line('llama-cpp-python', peer) if peer else ''}"
    )


def _speculative(d: dict[str, Any]) -> str:
    rows = [
        [r["task"], r["drafter"], r["tokens_per_s"], r["acceptance_rate"],
         r["mean_accepted_length"], r["speedup_vs_plain"], r["speedup_vs_llamacpp"], r["exact"]]
        for r in d["rows"]
    ]  # fmt: skip
    table = _table(
        ["task", "drafter", "tok/s", "α", "tokens/step", "× our plain", "× llama.cpp", "exact"],
        rows,
        digits=2,
    )
    notes = []
    if d.get("rounds", 1) > 1:
        notes.append(f"tok/s: the median of {d['rounds']} rounds, configurations alternating.")
    if d.get("auto"):
        notes.append(f'`draft="auto"` (the default) resolves here to: {d["auto"]}.')
    return "\n\n".join([table, *notes])


def _batching(d: dict[str, Any] | None) -> str:
    if not d:
        return "Not measured: the batching benchmark is not available in this build."
    rows = []
    for n in sorted(d["concurrency"], key=int):
        for mode, m in d["concurrency"][n].items():
            rows.append(
                [n, mode, m.get("tokens_per_s"), m.get("p50_ms"), m.get("p99_ms"),
                 m.get("ttft_p99_ms"), m.get("short_p99_ms"), m.get("padding_fraction")]
            )  # fmt: skip
    header = ["clients", "mode", "tok/s", "p50 ms", "p99 ms", "TTFT p99 ms", "CS p99 ms", "padding"]
    return _table(header, rows) + _batching_ratios(d)


def _batching_ratios(d: dict[str, Any]) -> str:
    """The issue's ratios at the largest concurrency run: throughput and the short turn's p99."""
    top = max(d["concurrency"], key=int)
    modes = d["concurrency"][top]
    dyn = modes.get("dynamic")
    if not dyn:
        return ""

    def ratio(a: float | None, b: float | None) -> str:
        return _f(a / b, 2) if a and b else "–"

    unloaded = d.get("unloaded_short_ms")
    return (
        f"\n\nAt {top} clients, dynamic batching gives "
        f"**{ratio(dyn['tokens_per_s'], modes.get('static', {}).get('tokens_per_s'))}×** "
        "static batching's throughput and "
        f"**{ratio(dyn['tokens_per_s'], modes.get('sequential', {}).get('tokens_per_s'))}×** "
        "sequential serving's; a customer-service (CS) turn's p99 end to end is "
        f"{_f(dyn.get('short_p99_ms'), 0)} ms against {_f(unloaded, 0)} ms unloaded "
        f"(**{ratio(dyn.get('short_p99_ms'), unloaded)}×**)."
    )


def _http(d: dict[str, Any]) -> str:
    rows = [
        [r["server"], r["task"], r.get("prompt_tokens"), r["completion_tokens"], r["ttft_ms"],
         r.get("decode_tokens_per_s"), _span(r.get("decode_range")), r["e2e_tokens_per_s"],
         r.get("same_text_as_ours")]
        for r in d["rows"]
    ]  # fmt: skip
    table = _table(
        ["server", "task", "prompt tok", "tokens", "TTFT ms", "decode tok/s", "range",
         "e2e tok/s", "same text"], rows,
    )  # fmt: skip
    ratios = "; ".join(
        f"{pair}: decode **{_f(r['decode']['median'], 2)}** "
        f"({_span((r['decode']['low'], r['decode']['high']))}), TTFT {_f(r['ttft']['median'], 2)}"
        for pair, r in (d.get("ratios") or {}).items()
    )  # fmt: skip
    peers = "\n".join(_peer_line(n, i) for n, i in (d.get("peers") or {}).items())
    return (
        f"{table}\n\nOurs over each peer, medians of {d.get('rounds', 3)} alternated rounds: "
        f"{ratios or '–'}. Every server gets the same prompt text (our chat template's "
        "rendering, on /v1/completions) with the same per-round tag, greedy.\n\n" + peers
    )


def _agent(d: dict[str, Any]) -> str:
    rows = [[k, v] for k, v in d.items() if not isinstance(v, dict | list)]
    return _table(["metric", "value"], rows, digits=2)


def _eval_data_line(name: str | None) -> str:
    if name:
        return f"Evaluation data: `{name}` (routing/safety scores, tier-latency prompts).\n\n"
    return (
        "Evaluation data: none given (`--eval-data`), so routing and safety are not scored "
        "here and the tier latency times one built-in request.\n\n"
    )


def render_markdown(
    meta: dict[str, Any], results: dict[str, Any], plots: dict[str, Path], folder: Path
) -> str:
    """The whole report."""

    def img(name: str, alt: str) -> str:
        path = plots.get(name)
        return f"\n\n![{alt}]({os.path.relpath(path, folder)})" if path else ""

    parts = [
        "# Benchmarks",
        f"Generated by `{meta['command']}` on {meta['date']}.\n\n"
        f"Machine: {meta['machine']}; {meta['threads']} compute threads.\n\n"
        + _eval_data_line(meta.get("eval_data"))
        + "Every number below comes from that run (raw results: `benchmarks.json`). The machine "
        "is shared and noisy: compare ratios measured in the same run, and re-run to check.",
        "## Headline: the fast tier, the deep tier, routing\n\n" + _headline(results)
        + img("latency_cdf", "latency CDF per tier"),
        "## Plain decode: our engine vs llama.cpp (greedy, same prompt tokens)\n\n"
        + _decode(results["decode"]),
        "## Speculative decoding (greedy; `exact` = same tokens as plain decoding)\n\n"
        + _speculative(results["speculative"]) + img("acceptance", "acceptance per task"),
        "## Batching (mixed workload)\n\n" + _batching(results.get("batching"))
        + img("batching", "throughput and p99 vs concurrency"),
        "## Agent loop (scripted models, fault-injecting deep endpoint)\n\n"
        + _agent(results["agent"]),
    ]  # fmt: skip
    if results.get("http"):
        parts.append(
            "## End to end over HTTP: `agentkit serve` vs llama.cpp's server (official `openai` "
            "client, streaming, prefill included)\n\n" + _http(results["http"])
        )
    if results.get("server_overhead"):
        parts.append(
            "## Server overhead (non-streaming 1-token `/v1/completions`, HTTP vs in process)"
            "\n\n" + _agent(results["server_overhead"])
        )
    return "\n\n".join(parts) + "\n"
