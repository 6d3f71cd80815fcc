"""PNG plots for the benchmark report (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["draw_plots"]


def draw_plots(results: dict[str, Any], folder: Path) -> dict[str, Path]:
    """Latency CDF per tier, acceptance per task, throughput and p99 vs concurrency."""
    try:
        import matplotlib
    except ImportError:
        return {}
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}

    fig, ax = plt.subplots(figsize=(6, 4))
    for tier, data in results.get("tiers", {}).items():
        lat = sorted(data["latencies_ms"])
        ax.step(lat, [(i + 1) / len(lat) for i in range(len(lat))], where="post", label=tier)
    ax.set(xlabel="end-to-end latency (ms)", ylabel="fraction of requests", title="Latency CDF")
    ax.legend()
    out["latency_cdf"] = _save(fig, folder / "latency_cdf.png")

    rows = [r for r in results.get("speculative", {}).get("rows", []) if r["drafter"] != "off"]
    if rows:
        fig, ax = plt.subplots(figsize=(7, 4))
        tasks = sorted({r["task"] for r in rows})
        drafters = sorted({r["drafter"] for r in rows})
        width = 0.8 / len(drafters)
        for j, d in enumerate(drafters):
            vals = [
                next(
                    (r["acceptance_rate"] for r in rows if r["task"] == t and r["drafter"] == d), 0
                )
                for t in tasks
            ]
            ax.bar([i + j * width for i in range(len(tasks))], vals, width, label=d)
        ax.set_xticks([i + 0.4 - width / 2 for i in range(len(tasks))], tasks)
        ax.set(ylabel="acceptance rate α", title="Draft acceptance per task", ylim=(0, 1))
        ax.legend()
        out["acceptance"] = _save(fig, folder / "acceptance.png")

    batching = results.get("batching")
    if batching:
        conc = batching["concurrency"]
        ns = sorted(conc, key=int)
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
        for mode in ("sequential", "static", "dynamic"):
            xs = [int(n) for n in ns if mode in conc[n]]
            a1.plot(xs, [conc[str(x)][mode]["tokens_per_s"] for x in xs], marker="o", label=mode)
            a2.plot(xs, [conc[str(x)][mode]["p99_ms"] for x in xs], marker="o", label=mode)
        a1.set(xlabel="concurrent clients", ylabel="tokens/s", title="Throughput")
        a2.set(xlabel="concurrent clients", ylabel="p99 end-to-end ms", title="p99 latency")
        a1.legend()
        out["batching"] = _save(fig, folder / "batching.png")
    return out


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path
