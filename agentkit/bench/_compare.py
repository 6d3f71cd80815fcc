"""`agentkit bench compare A.json B.json`: the key numbers of two report runs side by side.

Reads two ``benchmarks.json`` files written by ``agentkit bench report`` and
prints a Markdown table (number, run A, run B, B / A), so that whether a
report reproduces is checked from the files, not by reading two pages.
Sections a run lacks (e.g. no llama.cpp) show as ``-``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["compare_runs", "key_numbers"]

_Getter = Callable[[dict[str, Any]], Any]


def _decode_rate(engine: str, task: str) -> _Getter:
    def get(d: dict[str, Any]) -> Any:
        rows = d["decode"]["results"]
        return next(
            r["decode_tokens_per_s"] for r in rows if (r["engine"], r["task"]) == (engine, task)
        )

    return get


def _http_ratio(ours: str, what: str) -> _Getter:
    """The median round's ``what`` ratio of ``ours`` over llama.cpp's C++ llama-server."""

    def get(d: dict[str, Any]) -> Any:
        return d["http"]["ratios"][f"{ours}/llama-server"][what]["median"]

    return get


_KEYS: list[tuple[str, _Getter]] = [
    ("decode ratio ours/llama.cpp", lambda d: d["decode"]["ratio_decode_vs_llamacpp"]),
    ("TTFT ~500-token prompt, ours/llama.cpp",
     lambda d: d["decode"]["ratio_ttft_long_vs_llamacpp"]),
    ("decode tok/s agentkit math", _decode_rate("agentkit", "math")),
    ("decode tok/s llama.cpp math", _decode_rate("llama.cpp", "math")),
    ("model load ms", lambda d: d["decode"]["load_ms"]),
    ("RSS growth MB", lambda d: d["decode"]["rss_growth_mb"]),
    ("HTTP e2e ratio (plain) vs llama.cpp server", lambda d: d["http"]["ratio_e2e_vs_llamacpp"]),
    ("HTTP e2e ratio (speculative) vs llama.cpp server",
     lambda d: d["http"]["ratio_e2e_spec_vs_llamacpp"]),
    ("HTTP decode ratio (plain) vs llama-server", _http_ratio("agentkit", "decode")),
    ("HTTP TTFT ratio (plain) vs llama-server", _http_ratio("agentkit", "ttft")),
    ("HTTP decode ratio (speculative) vs llama-server", _http_ratio("agentkit+spec", "decode")),
    ("plain target tok/s", lambda d: d["tiers"]["plain target"]["tokens_per_s"]),
    ("speculative fast tier tok/s", lambda d: d["tiers"]["speculative fast tier"]["tokens_per_s"]),
    ("16 clients sequential tok/s",
     lambda d: d["batching"]["concurrency"]["16"]["sequential"]["tokens_per_s"]),
    ("16 clients static tok/s",
     lambda d: d["batching"]["concurrency"]["16"]["static"]["tokens_per_s"]),
    ("16 clients dynamic tok/s",
     lambda d: d["batching"]["concurrency"]["16"]["dynamic"]["tokens_per_s"]),
    ("server overhead p50 ms", lambda d: d["server_overhead"]["overhead_p50_ms"]),
    ("routing escalation recall (dev)", lambda d: d["eval"]["routing"]["escalation_recall"]),
    ("router+safety p50 ms", lambda d: d["eval"]["routing"]["latency_ms_p50"]),
]  # fmt: skip


def key_numbers(run: dict[str, Any]) -> dict[str, float | None]:
    """The compared numbers of one run (None where the run has no such number)."""
    out: dict[str, float | None] = {}
    for name, get in _KEYS:
        try:
            value = get(run)
        except (KeyError, TypeError, StopIteration):
            value = None
        out[name] = float(value) if isinstance(value, int | float) else None
    return out


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def compare_runs(a: str | Path, b: str | Path) -> str:
    """A Markdown table of the key numbers of two ``benchmarks.json`` files.

    Raises:
        OSError, ValueError: a file is missing or not JSON.
    """
    runs = [json.loads(Path(p).read_text()) for p in (a, b)]
    dates = [r.get("meta", {}).get("date", str(p)) for r, p in zip(runs, (a, b), strict=True)]
    first, second = (key_numbers(r) for r in runs)
    lines = [
        f"| number | run 1 ({dates[0]}) | run 2 ({dates[1]}) | run 2 / run 1 |",
        "|---|---|---|---|",
    ]
    for name, x in first.items():
        y = second[name]
        ratio = f"{y / x:.2f}" if x and y is not None else "-"
        lines.append(f"| {name} | {_cell(x)} | {_cell(y)} | {ratio} |")
    return "\n".join(lines)
