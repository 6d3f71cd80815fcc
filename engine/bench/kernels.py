"""Micro-benchmark of the kernels: ``python -m engine.bench.kernels``.

Prints GB/s of weights (GGUF bytes read per second) of ``linear`` for the
default model's shapes at T = 1, 4, 8, 16: C++ extension with int8 activations
over 8-row interleaved weights (``x8``, the default) and over GGUF's row-major
blocks (``i8a``), and with fp32 activations (``f32a``), vs the torch reference;
then the per-call overhead of each op on decode-sized inputs. ``--rows``
times the default model's whole forward by number of rows (docs/measurements/row-cost.md).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import replace

import torch

from engine import kernels
from engine._engine import Engine
from engine.kernels import _reference
from engine.kernels._qweight import BLOCK, BLOCK_BYTES, QWeight
from engine.kv_cache import KVCache
from engine.loader import default_model_path, load_model
from engine.model import Transformer

__all__ = ["main", "random_qweight", "time_call"]

SHAPES: list[tuple[str, str, int, int]] = [
    ("qkv", "q4_1", 960, 576),
    ("gate_up", "q4_1", 3072, 576),
    ("down", "q4_1", 576, 1536),
    ("head", "q8_0", 49152, 576),
    ("gate_up", "q8_0", 3072, 576),
    ("gate_up", "q4_0", 3072, 576),
    ("gate_up", "f32", 3072, 576),
]


def random_qweight(fmt: str, n: int, k: int, seed: int = 0) -> QWeight:
    """A random (N, K) weight in ``fmt`` with sane fp16 scales (no quantizer run)."""
    g = torch.Generator().manual_seed(seed)
    if fmt == "f32":
        return QWeight.from_float(torch.randn(n, k, generator=g))
    nbytes = BLOCK_BYTES[fmt]
    blocks = torch.randint(0, 256, (n, k // BLOCK, nbytes), dtype=torch.uint8, generator=g)
    scales = (torch.rand(n, k // BLOCK, 2, generator=g) * 0.02).half()  # (N, K/32, 2) = d, m
    n_scales = 2 if fmt == "q4_1" else 1
    blocks[..., : 2 * n_scales] = scales[..., :n_scales].contiguous().view(torch.uint8)
    return QWeight.from_blocks(fmt, blocks, (n, k))  # type: ignore[arg-type]


CLOCK: Callable[[], float] = time.perf_counter


def time_call(
    fn: Callable[[], object], budget_s: float = 0.15, clock: Callable[[], float] | None = None
) -> float:
    """Median seconds per call of ``fn`` over about ``budget_s`` of repeats.

    Args:
        fn: What to time.
        budget_s: Roughly how long the 5 timed batches take together.
        clock: The clock (default: this module's ``CLOCK``, which ``--cpu-time`` switches).
    """
    clock = clock or CLOCK
    fn()
    t0 = clock()
    fn()
    once = max(clock() - t0, 1e-7)
    reps = max(3, min(2000, int(budget_s / once)))
    batch = max(1, reps // 5)
    samples = []
    for _ in range(5):
        t0 = clock()
        for _ in range(batch):
            fn()
        samples.append((clock() - t0) / batch)
    return statistics.median(samples)


def _linear_table(ts: list[int], with_ref: bool) -> None:
    cols = "".join(f"{'T=' + str(t):>9}" for t in ts)
    print(f"{'matrix':<9}{'fmt':<6}{'N x K':<12}{'impl':<6}{cols}   (GB/s of weights)")
    for name, fmt, n, k in SHAPES:
        w = random_qweight(fmt, n, k)
        impls: list[tuple[str, Callable[[torch.Tensor, QWeight], torch.Tensor]]] = [
            ("f32a", lambda x, w: kernels.linear(x, w, act_quant=False))
        ]
        if fmt != "f32":
            impls.insert(0, ("i8a", lambda x, w: kernels.linear(x, w, act_quant=True)))
            packed = kernels.interleave(w)
            impls.insert(0, ("x8", lambda x, _w, p=packed: kernels.linear(x, p, act_quant=True)))  # type: ignore[misc]
        if with_ref:
            impls.append(("torch", _reference.linear))
        for impl, fn in impls:
            cells = ""
            for t in ts:
                x = torch.randn(t, k)
                sec = time_call(lambda fn=fn, x=x, w=w: fn(x, w))  # type: ignore[misc]
                cells += f"{w.nbytes / sec / 1e9:>9.2f}"
            print(f"{name:<9}{fmt:<6}{f'{n}x{k}':<12}{impl:<6}{cells}")


def _overhead_table() -> None:
    x = torch.randn(1, 576)
    w = random_qweight("q4_1", 32, 576)
    nw = torch.ones(576)
    q = torch.randn(1, 9, 64)
    cs = torch.randn(1, 32)
    kc = torch.randn(1, 3, 64, 64)
    slots, pos = torch.zeros(1, dtype=torch.long), torch.tensor([15])
    gu = torch.randn(1, 3072)
    ops: list[tuple[str, Callable[[], object], Callable[[], object]]] = [
        ("linear 32x576", lambda: kernels.linear(x, w), lambda: _reference.linear(x, w)),
        (
            "linear f32a 32x576",
            lambda: kernels.linear(x, w, act_quant=False),
            lambda: _reference.linear(x, w),
        ),
        (
            "rms_norm 576",
            lambda: kernels.rms_norm(x, nw, 1e-5),
            lambda: _reference.rms_norm(x, nw, 1e-5),
        ),
        ("rope 9x64", lambda: kernels.rope(q, cs, cs), lambda: _reference.rope(q, cs, cs)),
        ("silu_mul 3072", lambda: kernels.silu_mul(gu), lambda: _reference.silu_mul(gu)),
        (
            "attention 16 keys",
            lambda: kernels.attention(q, kc, kc, slots, pos),
            lambda: _reference.attention(q, kc, kc, slots, pos),
        ),
    ]
    print(f"\n{'op (T=1)':<20}{'cpp us':>9}{'torch us':>10}")
    for name, fast, ref in ops:
        print(f"{name:<20}{time_call(fast, 0.05) * 1e6:>9.1f}{time_call(ref, 0.05) * 1e6:>10.1f}")


def _decode_cpu(tokens: int) -> None:
    """CPU seconds per decoded token of the default model at 1 thread: ours vs llama.cpp."""
    e = Engine.load("default", max_seq_len=512, max_slots=1)
    torch.set_num_threads(1)
    ids = e.encode("The quick brown fox jumps over the lazy dog. " * 8)[:tokens]
    print(f"\n{'decode, 1 thread, process CPU time':<40}{'ms/token':>9}{'tok/s':>8}")
    for aq in (True, False):
        kernels.set_act_quant(aq)
        slot = e.cache.allocate()
        t0 = time.process_time()
        for pos, tok in enumerate(ids):
            e.model.forward(torch.tensor([tok]), torch.tensor([slot]), torch.tensor([pos]), e.cache)
        sec = (time.process_time() - t0) / len(ids)
        e.cache.free(slot)
        name = "ours, int8 activations" if aq else "ours, fp32 activations"
        print(f"{name:<40}{sec * 1e3:>9.2f}{1 / sec:>8.1f}")
    kernels.set_act_quant(None)
    try:
        from llama_cpp import Llama
    except ImportError:
        return
    llm = Llama(model_path=e.loaded.source, n_threads=1, n_ctx=512, verbose=False)
    t0 = time.process_time()
    for tok in ids:
        llm.eval([tok])
    sec = (time.process_time() - t0) / len(ids)
    print(f"{'llama.cpp (llama-cpp-python)':<40}{sec * 1e3:>9.2f}{1 / sec:>8.1f}")


def _strip_interleaved(model: Transformer) -> None:
    """Drop every interleaved copy: the model falls back to the row-major int8 kernel."""

    def plain(w: QWeight) -> QWeight:
        return QWeight(w.fmt, w.shape, w.data)

    model.head = plain(model.head)
    model.embed = model.head if model.config.tie_embeddings else model.embed
    model.layers = [
        replace(lw, wqkv=plain(lw.wqkv), wo=plain(lw.wo), w_gate_up=plain(lw.w_gate_up),
                w_down=plain(lw.w_down))
        for lw in model.layers
    ]  # fmt: skip
    model._plan, model._plan_checked = None, False


def _rows_table(rows: list[int]) -> None:
    """Wall ms of one forward of the default model by rows (one sequence, positions 100..)."""
    model = load_model(default_model_path(), 1024).model
    c = model.config
    print(f"\n{'forward, wall ms (median)':<26}" + "".join(f"{'T=' + str(t):>8}" for t in rows))
    for label in ("interleaved (x8)", "row-major (i8a)"):
        if label.startswith("row"):
            _strip_interleaved(model)
        cache = KVCache(c.n_layers, 1, c.n_kv_heads, 512, c.head_dim)
        cells = ""
        for t in rows:
            tok, slot, pos = (torch.randint(0, 1000, (t,)), torch.zeros(t, dtype=torch.long),
                              torch.arange(100, 100 + t))  # fmt: skip

            def step(tok: torch.Tensor = tok, slot: torch.Tensor = slot,
                     pos: torch.Tensor = pos, kv: KVCache = cache) -> object:  # fmt: skip
                return model.forward(tok, slot, pos, kv)

            sec = time_call(step)
            cells += f"{sec * 1e3:>8.1f}"
        print(f"{label:<26}{cells}")


def main() -> None:
    """Run the benchmark and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--no-ref", action="store_true", help="skip the torch reference rows")
    parser.add_argument(
        "--cpu-time",
        action="store_true",
        help="time with this thread's CPU clock at 1 thread (robust on a shared, loaded machine)",
    )
    parser.add_argument(
        "--decode",
        type=int,
        default=0,
        metavar="N",
        help="also time N decode steps of the default model (and llama.cpp) in CPU time",
    )
    parser.add_argument("--no-linear", action="store_true", help="skip the per-matrix tables")
    parser.add_argument(
        "--rows", action="store_true", help="time the default model's forward by number of rows"
    )
    args = parser.parse_args()
    if args.cpu_time:
        global CLOCK
        CLOCK = time.thread_time
        args.threads = 1
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"backend={kernels.backend()} threads={torch.get_num_threads()} clock={CLOCK.__name__}")
    if not args.no_linear:
        _linear_table([1, 4, 8, 16], with_ref=not args.no_ref)
        _overhead_table()
    if args.decode:
        _decode_cpu(args.decode)
    if args.rows:
        _rows_table([1, 2, 3, 5, 8, 16])


if __name__ == "__main__":
    main()
