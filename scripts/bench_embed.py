"""Measure the MiniLM embedding layer: one-call latency, and a cold corpus embedding.

Usage::

    .venv/bin/python scripts/bench_embed.py latency [--calls 300]
    .venv/bin/python scripts/bench_embed.py corpus PATH... [--cache-dir DIR] [--threads 1]
        [--normalize]

``latency`` times single ``embed`` calls of distinct ~30-token messages (the LRU
never hits) on one thread, int8 and fp32 alternating, and prints p50/p99 of wall
and of thread CPU time (CPU time excludes waiting for a core on a shared machine).
``corpus`` embeds the ``text`` of every JSONL row through the disk cache and
prints the wall time (cold when the cache folder is empty).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from router._embed import EmbeddingLayer
from router._normalize import normalize_text

_MESSAGE = (
    "Can you help me reset the password on my online banking account? It failed twice "
    "today with error {} and the app keeps logging me out."
)


def _pct(xs: list[float]) -> str:
    a = np.asarray(xs) * 1e3
    return f"p50 {np.percentile(a, 50):.2f} ms, p99 {np.percentile(a, 99):.2f} ms"


def latency(calls: int) -> None:
    """Print p50/p99 of single-text calls, int8 and fp32 interleaved."""
    layers = {p: EmbeddingLayer.load(precision=p, cache_size=0) for p in ("int8", "fp32")}
    tokens = len(layers["int8"].tokenizer.encode(_MESSAGE.format(0)).ids)
    wall: dict[str, list[float]] = {p: [] for p in layers}
    cpu: dict[str, list[float]] = {p: [] for p in layers}
    for i in range(calls + 10):
        for name, layer in layers.items():
            w, c = time.perf_counter(), time.thread_time()
            layer.embed([_MESSAGE.format(i)])
            if i >= 10:  # warm-up
                wall[name].append(time.perf_counter() - w)
                cpu[name].append(time.thread_time() - c)
    print(f"{tokens} tokens, {calls} calls each, one thread, load {os.getloadavg()[0]:.1f}")
    for name in layers:
        print(f"{name}: wall {_pct(wall[name])}; cpu {_pct(cpu[name])}")


def corpus(paths: list[str], cache_dir: str | None, threads: int, normalize: bool) -> None:
    """Embed every row's text through the disk cache; print the time taken."""
    texts: list[str] = []
    for path in paths:
        files = sorted(Path(path).glob("*.jsonl")) if Path(path).is_dir() else [Path(path)]
        for f in files:
            for line in f.read_text(encoding="utf-8").split("\n"):  # the corpus holds U+2028
                if line.strip():
                    texts.append(json.loads(line)["text"])
    if normalize:  # as `agentkit router train` embeds them
        texts = [normalize_text(t) for t in texts]
    layer = EmbeddingLayer.load(threads=threads)
    start = time.perf_counter()

    def report(done: int, total: int) -> None:
        print(f"  {done}/{total} texts, {time.perf_counter() - start:.0f} s", flush=True)

    out = layer.embed_corpus(texts, cache_dir, progress=report)
    took = time.perf_counter() - start
    print(
        f"{len(texts)} texts -> {out.shape}, {took:.1f} s, {threads} thread(s), {layer.model_key}"
    )


def main() -> None:
    """Parse the command line and run one measurement."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    lat = sub.add_parser("latency")
    lat.add_argument("--calls", type=int, default=300)
    cor = sub.add_parser("corpus")
    cor.add_argument("paths", nargs="+")
    cor.add_argument("--cache-dir")
    cor.add_argument("--threads", type=int, default=1)
    cor.add_argument("--normalize", action="store_true", help="embed normalize_text(text)")
    args = parser.parse_args()
    if args.cmd == "latency":
        latency(args.calls)
    else:
        corpus(args.paths, args.cache_dir, args.threads, args.normalize)


if __name__ == "__main__":
    main()
