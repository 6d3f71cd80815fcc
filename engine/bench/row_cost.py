"""What a k-row forward costs against a 1-row forward, per kernel path.

``python -m engine.bench.row_cost`` times the default model's whole forward
(`Transformer.forward`, the ragged C++ plan production runs) over k rows of one
sequence at positions 100.. for k = 1, 2, 4, 8, 16, on every kernel path this
CPU runs (`engine.kernels.available_paths`), in alternated rounds (path order
reversed every other round), and prints per path the median ms, its range,
the ratio to one row and the cost of an extra row as a fraction of a one-row
step, ``r = (t_k / t_1 - 1) / (k - 1)``: what the speculation controller and
the batching estimates call the row cost (docs/measurements/row-cost.md).

The load average is printed before and after: numbers taken on a loaded
machine say so. ``--cpu-time`` times this thread's CPU clock at 1 thread
instead (robust to neighbours, but counts no waiting for memory stalls of
other cores).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from engine import kernels
from engine.bench.kernels import time_call
from engine.kv_cache import KVCache
from engine.loader import default_model_path, load_model
from engine.model import Transformer

__all__ = ["RowCost", "RowCostReport", "main", "measure_row_cost", "run_row_cost"]


@dataclass(frozen=True)
class RowCost:
    """Timings of one path: seconds per forward of k rows, one sample per round."""

    path: str
    """Kernel path (``avx512vnni``, ``avx2``, ``portable``...)."""
    samples: dict[int, list[float]]
    """Rows k -> seconds per forward, one median per round."""
    act_quant: bool
    """Whether the path ran int8 activations (its default: the portable path does not)."""

    def median(self, k: int) -> float:
        """Median over rounds of the seconds per k-row forward."""
        return statistics.median(self.samples[k])

    def ratio(self, k: int) -> float:
        """A k-row step as a multiple of a 1-row step (medians)."""
        return self.median(k) / self.median(1)

    def extra_row(self, k: int) -> float:
        """An extra row's cost as a fraction of a 1-row step, from the k-row step."""
        return (self.ratio(k) - 1.0) / (k - 1) if k > 1 else 0.0


def _forward(model: Transformer, cache: KVCache, k: int) -> Callable[[], object]:
    """One forward of k rows of one sequence at positions 100..100+k."""
    tokens = torch.randint(0, 1000, (k,), generator=torch.Generator().manual_seed(k))
    slots, positions = torch.zeros(k, dtype=torch.long), torch.arange(100, 100 + k)
    return lambda: model.forward(tokens, slots, positions, cache)


def measure_row_cost(
    paths: Sequence[str],
    rows: Sequence[int] = (1, 2, 4, 8, 16),
    rounds: int = 3,
    clock: Callable[[], float] = time.perf_counter,
    budget_s: float = 0.4,
) -> list[RowCost]:
    """Time the default model's forward by rows on each path, in alternated rounds.

    Raises:
        ValueError: a path is unknown or this CPU cannot run it.
    """
    model = load_model(default_model_path(), 1024).model
    c = model.config
    cache = KVCache(c.n_layers, 1, c.n_kv_heads, 512, c.head_dim)
    samples: dict[str, dict[int, list[float]]] = {p: {k: [] for k in rows} for p in paths}
    act_quant: dict[str, bool] = {}
    try:
        for r in range(rounds):
            for path in paths if r % 2 == 0 else list(reversed(paths)):
                kernels.set_kernel_path(path)
                act_quant[path] = kernels.act_quant_enabled()
                for k in rows:
                    sec = time_call(_forward(model, cache, k), budget_s, clock)
                    samples[path][k].append(sec)
    finally:
        kernels.set_kernel_path(None)
    return [RowCost(p, samples[p], act_quant[p]) for p in paths]


@dataclass(frozen=True)
class RowCostReport:
    """A run of `run_row_cost`: each path's timings and the conditions they were taken in."""

    results: list[RowCost]
    """One entry per path, in the order asked."""
    rows: list[int]
    """The row counts k timed."""
    threads: int
    """torch threads during the run."""
    clock: str
    """``perf_counter`` (wall) or ``thread_time`` (this thread's CPU time)."""
    load_before: float
    """1-minute load average before the run."""
    load_after: float
    """1-minute load average after the run."""

    def to_json(self) -> dict[str, object]:
        """Plain data: per path and k, median seconds, range, ratio and extra-row cost."""
        paths = {
            r.path: {
                "act_quant": r.act_quant,
                "rows": {
                    str(k): {
                        "median_ms": r.median(k) * 1e3,
                        "range_ms": [min(r.samples[k]) * 1e3, max(r.samples[k]) * 1e3],
                        "ratio_to_1_row": r.ratio(k),
                        "extra_row_cost": r.extra_row(k),
                    }
                    for k in self.rows
                },
            }
            for r in self.results
        }
        return {
            "threads": self.threads,
            "clock": self.clock,
            "load_before": self.load_before,
            "load_after": self.load_after,
            "paths": paths,
        }

    def table(self) -> str:
        """The report as text: median ms [min-max], x 1-row and r per path and k."""
        head = "".join(f"{'k=' + str(k):>16}" for k in self.rows)
        lines = [
            f"threads={self.threads} clock={self.clock}",
            f"{'path':<12}{head}   (median ms [min-max]; x 1-row; r = extra row / 1-row step)",
        ]
        for res in self.results:
            cells = ""
            for k in self.rows:
                s = res.samples[k]
                cells += f"{res.median(k) * 1e3:>7.2f} [{min(s) * 1e3:.1f}-{max(s) * 1e3:.1f}]"
            lines.append(f"{res.path + ('' if res.act_quant else '*'):<12}{cells}")
            lines.append(
                f"{'  x 1-row':<12}" + "".join(f"{res.ratio(k):>16.2f}" for k in self.rows)
            )
            lines.append(f"{'  r':<12}" + "".join(f"{res.extra_row(k):>16.3f}" for k in self.rows))
        if not all(r.act_quant for r in self.results):
            lines.append(
                "* fp32 activations: that path's default (int8 activations need a SIMD build)"
            )
        lines.append(
            f"load average before {self.load_before:.2f} / after {self.load_after:.2f} "
            f"(1 min; {os.cpu_count()} CPUs)"
        )
        return "\n".join(lines)


def run_row_cost(
    paths: Sequence[str] | None = None,
    rows: Sequence[int] = (1, 2, 4, 8, 16),
    rounds: int = 3,
    threads: int | None = None,
    cpu_time: bool = False,
    budget_s: float = 0.4,
) -> RowCostReport:
    """`measure_row_cost` with its conditions: threads, clock and load average.

    Args:
        paths: kernel paths (default: every path the CPU runs).
        rows: row counts k.
        rounds: alternated rounds.
        threads: torch threads for the run (None: as they are); restored after.
        cpu_time: time this thread's CPU clock at 1 thread instead of the wall clock.
        budget_s: seconds of timing per cell and round.
    """
    chosen = list(paths) if paths else list(kernels.available_paths())
    old = torch.get_num_threads()
    want = 1 if cpu_time else threads
    clock = time.thread_time if cpu_time else time.perf_counter
    load0 = os.getloadavg()[0]
    try:
        if want:
            torch.set_num_threads(want)
        used = torch.get_num_threads()
        results = measure_row_cost(chosen, rows, rounds, clock, budget_s)
    finally:
        torch.set_num_threads(old)
    return RowCostReport(results, list(rows), used, clock.__name__, load0, os.getloadavg()[0])


def main(argv: Sequence[str] | None = None) -> None:
    """Parse arguments, measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--paths", nargs="*", help="paths to time (default: all the CPU runs)")
    parser.add_argument("--rows", type=int, nargs="*", default=[1, 2, 4, 8, 16])
    parser.add_argument("--rounds", type=int, default=3, help="alternated rounds (default 3)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--cpu-time", action="store_true", help="thread CPU time, 1 thread")
    parser.add_argument("--budget", type=float, default=0.4, help="seconds a cell and round")
    args = parser.parse_args(argv)
    report = run_row_cost(
        args.paths, args.rows, args.rounds, args.threads or None, args.cpu_time, args.budget
    )
    print(report.table())


if __name__ == "__main__":
    main()
