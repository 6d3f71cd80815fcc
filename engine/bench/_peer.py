"""llama-cpp-python, the in-process peer of the decode benchmarks, timed in a process of its own.

Two inference runtimes in one process disturb each other: our compute
thread's OpenMP team and llama.cpp's threads compete for the same two cores
(measured: llama.cpp fell from ~95 to ~23 tokens/s decoding next to an idle
engine of ours). So the peer always runs in a fresh child, started as
``python -I engine/bench/_peer.py`` so that it imports neither the ``engine``
package nor torch (whose bundled OpenMP runtime would sit beside
llama.cpp's), and gets the exact prompt token ids our engine used.

It is configured as its users configure it for greedy CPU decoding
(`llama_settings`, `GREEDY`): flash attention on, ``n_threads`` and
``n_threads_batch`` both set, ``logits_all=False`` (logits of the last
position only, as we compute), temperature 0 with ``top_k=1`` and the repeat
penalty off (1.0). The child reports the generated token ids, so the caller
checks both engines emitted the same tokens, and ``llama_cpp.__version__``
and ``llama_print_system_info()`` (the build's CPU features), so a result
says which llama.cpp it was measured against.

The child runs under ``$AGENTKIT_LLAMACPP_PYTHON`` when it is set (a Python
with llama-cpp-python installed, e.g. a venv of its own, so that its server
dependencies stay out of the SDK's environment), else under this Python.
"""

from __future__ import annotations

import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

__all__ = [
    "GREEDY",
    "PEER_PYTHON_ENV",
    "llama_settings",
    "llamacpp_available",
    "peak_rss_mb",
    "peer_python",
    "run_llamacpp",
    "timing_row",
]

# llama_cpp.Llama.generate's sampling arguments: greedy, nothing else on top.
GREEDY: dict[str, float | int] = {"temp": 0.0, "top_k": 1, "repeat_penalty": 1.0}


def llama_settings(model_path: str, threads: int, n_ctx: int = 1024) -> dict[str, Any]:
    """``llama_cpp.Llama(**settings)``: the peer as its users run it (see the module doc)."""
    return {
        "model_path": model_path, "n_threads": threads, "n_threads_batch": threads,
        "n_ctx": n_ctx, "flash_attn": True, "logits_all": False, "verbose": False,
    }  # fmt: skip


PEER_PYTHON_ENV = "AGENTKIT_LLAMACPP_PYTHON"


def peer_python() -> str:
    """The Python the llama-cpp-python peer runs under: ``$AGENTKIT_LLAMACPP_PYTHON`` or ours."""
    return os.environ.get(PEER_PYTHON_ENV, "").strip() or sys.executable


def llamacpp_available() -> bool:
    """Whether ``llama_cpp`` (the optional ``bench`` extra) imports under `peer_python`."""
    python = peer_python()
    if python == sys.executable:
        return importlib.util.find_spec("llama_cpp") is not None
    try:
        proc = subprocess.run(
            [python, "-I", "-c", "import llama_cpp"], capture_output=True, check=False, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0


def run_llamacpp(
    model_path: str,
    prompts: dict[str, list[int]],
    threads: int,
    new_tokens: int,
    repeats: int = 1,
) -> dict[str, Any]:
    """Greedy-decode ``new_tokens`` per prompt with llama.cpp in a child process.

    Args:
        model_path: the GGUF file.
        prompts: task name -> prompt token ids.
        threads: llama.cpp's thread count (``n_threads`` and ``n_threads_batch``).
        new_tokens: tokens to generate per task (EOS ignored).
        repeats: timed runs per task; TTFT and decode time are each their median.

    Returns:
        ``{"info": {...}, "rows": [...]}``: ``info`` holds ``version``,
        ``system_info``, ``settings`` and ``sampling``; each row ``task``,
        ``prompt_tokens``, ``new_tokens``, ``prompt_tokens_per_s``,
        ``decode_tokens_per_s``, ``ttft_ms``, ``decode_s``, ``peak_rss_mb``
        (of the child) and ``tokens`` (the first run's generated ids).

    Raises:
        RuntimeError: the child failed (its stderr tail is in the message).
    """
    job = {"settings": llama_settings(model_path, threads), "prompts": prompts,
           "tokens": new_tokens, "repeats": repeats}  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out.json")
        proc = subprocess.run(
            [peer_python(), "-I", os.path.abspath(__file__), out],
            input=json.dumps(job), text=True, capture_output=True, check=False,
        )  # fmt: skip
        if proc.returncode != 0:
            raise RuntimeError(f"llama.cpp benchmark failed: {proc.stderr[-2000:]}")
        with open(out) as f:
            result: dict[str, Any] = json.load(f)
    return result


def timing_row(
    prompt_tokens: int, new_tokens: int, ttft_s: float, decode_s: float
) -> dict[str, Any]:
    """The benchmark's row fields from one (median) run's measurements.

    The decode rate leaves the first token out: it comes with the prefill and
    is in ``ttft``, so the two are reported apart.
    """
    return {
        "prompt_tokens": prompt_tokens, "new_tokens": new_tokens,
        "prompt_tokens_per_s": prompt_tokens / ttft_s if ttft_s else 0.0,
        "decode_tokens_per_s": (new_tokens - 1) / decode_s if decode_s else 0.0,
        "ttft_ms": ttft_s * 1e3, "decode_s": decode_s,
    }  # fmt: skip


def peak_rss_mb() -> float:
    """This process's peak resident memory in MiB (``VmHWM``).

    Not ``getrusage().ru_maxrss``: Linux carries that across ``exec``, so a
    child started from a large process (a test runner, the report) would
    report its parent's size.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _time_one(llm: Any, ids: list[int], new_tokens: int) -> tuple[list[int], float, float]:
    """(tokens, seconds to the first, seconds after it) of one greedy generation."""
    llm.reset()  # no KV reuse from the previous prompt: every TTFT is a full prefill
    t0 = time.perf_counter()
    t_first = t0
    out: list[int] = []
    for tok in llm.generate(ids, reset=True, **GREEDY):
        out.append(int(tok))
        if len(out) == 1:
            t_first = time.perf_counter()
        if len(out) >= new_tokens:
            break
    return out, t_first - t0, time.perf_counter() - t_first


def _main(out_path: str) -> None:
    import llama_cpp

    job = json.load(sys.stdin)
    llm = llama_cpp.Llama(**job["settings"])
    rows = []
    for task, ids in job["prompts"].items():
        _time_one(llm, ids, 4)  # warm up, as our engine is warmed up
        runs = [_time_one(llm, ids, job["tokens"]) for _ in range(job["repeats"])]
        row = timing_row(
            len(ids), len(runs[0][0]), statistics.median(r[1] for r in runs),
            statistics.median(r[2] for r in runs),
        )  # fmt: skip
        rows.append({"task": task, **row, "peak_rss_mb": peak_rss_mb(), "tokens": runs[0][0]})
    info = {
        "version": llama_cpp.__version__,
        "system_info": llama_cpp.llama_print_system_info().decode(errors="replace").strip(),
        "settings": {k: v for k, v in job["settings"].items() if k != "model_path"},
        "sampling": GREEDY,
    }
    with open(out_path, "w") as f:
        json.dump({"info": info, "rows": rows}, f)


if __name__ == "__main__":
    _main(sys.argv[1])
