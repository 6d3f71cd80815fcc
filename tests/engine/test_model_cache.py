"""The model cache survives concurrent first loads and rebuilds any damaged file.

The tiny GGUF here stores its matrices as Q5_0, which the kernels do not run,
so a first load writes all three cache files: the index, ``*.q8_0.bin`` (the
re-quantized tensors) and ``*.fused.bin`` (fused and interleaved copies).
Before the cache's manifests, a missing ``*.q8_0.bin`` made every later load
fail with KeyError, a truncated one with ValueError, and a damaged header
was read as weights.
"""

from __future__ import annotations

import errno
import json
import os
import pathlib
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import structlog
import torch

from engine.kv_cache import KVCache
from engine.loader import LoadedModel, load_model
from tests.engine._tiny_gguf import T_Q5_0, tiny_spec, write_spec

REPO = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture
def cache(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> pathlib.Path:
    """A private cache folder for the loader (not the env var: the kernels use it too)."""
    root = tmp_path / "cache"
    root.mkdir()
    monkeypatch.setattr("engine.loader._gguf.cache_dir", lambda: root)
    return root


@pytest.fixture
def model(tmp_path: pathlib.Path) -> pathlib.Path:
    return write_spec(tmp_path / "m.gguf", tiny_spec(T_Q5_0))


def _logits(m: LoadedModel) -> torch.Tensor:
    c = m.config
    kv = KVCache(c.n_layers, 1, c.n_kv_heads, 16, c.head_dim)
    return m.model.forward(torch.arange(8), torch.zeros(8, dtype=torch.long), torch.arange(8), kv)


def _file(cache: pathlib.Path, suffix: str) -> pathlib.Path:
    (path,) = cache.glob(f"*{suffix}")
    return path


@pytest.fixture
def logs() -> Iterator[list[dict[str, object]]]:
    with structlog.testing.capture_logs() as captured:
        yield captured


def _rebuilds(logs: list[dict[str, object]]) -> list[dict[str, object]]:
    return [e for e in logs if e["event"] == "model_cache.rebuild"]


def test_first_load_writes_all_three_files_and_no_temp_files(
    cache: pathlib.Path, model: pathlib.Path, logs: list[dict[str, object]]
) -> None:
    first = _logits(load_model(model, 16))
    names = sorted(p.name.split(".", 1)[1] for p in cache.iterdir())
    assert names == ["fused.bin", "index.json", "q8_0.bin"]
    assert torch.equal(_logits(load_model(model, 16)), first)
    assert _rebuilds(logs) == []


def _truncate(p: pathlib.Path) -> None:
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])


def _append(p: pathlib.Path) -> None:
    with p.open("ab") as f:
        f.write(b"\0" * 64)


def _flip_header(p: pathlib.Path) -> None:
    data = bytearray(p.read_bytes())
    data[0] ^= 0xFF
    p.write_bytes(bytes(data))


def _flip_digest(p: pathlib.Path) -> None:
    data = bytearray(p.read_bytes())
    data[20] ^= 0xFF  # inside the tensor-table digest
    p.write_bytes(bytes(data))


DAMAGE: dict[str, Callable[[pathlib.Path], None]] = {
    "missing": lambda p: p.unlink(),
    "empty": lambda p: p.write_bytes(b""),
    "truncated": _truncate,
    "wrong size": _append,
    "corrupted header": _flip_header,
    "header from another write": _flip_digest,
}


@pytest.mark.parametrize("suffix", [".q8_0.bin", ".fused.bin"])
@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_tensor_file_is_rebuilt(
    cache: pathlib.Path,
    model: pathlib.Path,
    logs: list[dict[str, object]],
    suffix: str,
    damage: str,
) -> None:
    fresh = _logits(load_model(model, 16))
    DAMAGE[damage](_file(cache, suffix))
    assert torch.equal(_logits(load_model(model, 16)), fresh)
    (event,) = _rebuilds(logs)
    assert suffix in str(event["reason"])
    # the rebuilt cache is whole again: the next load reads it without a rebuild
    assert torch.equal(_logits(load_model(model, 16)), fresh)
    assert len(_rebuilds(logs)) == 1


INDEX_DAMAGE: dict[str, Callable[[pathlib.Path], None]] = {
    "not json": lambda p: p.write_text("{not json"),
    "empty": lambda p: p.write_text(""),
    "truncated": _truncate,
    "a list": lambda p: p.write_text("[]"),
    "older version": lambda p: p.write_text(
        json.dumps({**json.loads(p.read_text()), "version": 2})
    ),
    "config field mistyped": lambda p: p.write_text(
        json.dumps(_edit(json.loads(p.read_text()), ["config", "dim"], "64"))
    ),
    "tensor past its file": lambda p: p.write_text(
        json.dumps(
            _edit(json.loads(p.read_text()), ["tensors", "token_embd.weight", "offset"], 1 << 40)
        )
    ),
    "tensor entry gone": lambda p: p.write_text(
        json.dumps(_drop(json.loads(p.read_text()), "blk.0.attn_norm.weight"))
    ),
    "tokenizer garbage": lambda p: p.write_text(
        json.dumps({**json.loads(p.read_text()), "tokenizer": "{}"})
    ),
}


def _edit(ix: dict[str, object], path: list[str], value: object) -> dict[str, object]:
    node = ix
    for key in path[:-1]:
        node = node[key]  # type: ignore[assignment]
    node[path[-1]] = value
    return ix


def _drop(ix: dict[str, object], name: str) -> dict[str, object]:
    del ix["tensors"][name]  # type: ignore[attr-defined]
    return ix


@pytest.mark.parametrize("damage", sorted(INDEX_DAMAGE))
def test_a_damaged_index_is_rebuilt(
    cache: pathlib.Path, model: pathlib.Path, logs: list[dict[str, object]], damage: str
) -> None:
    fresh = _logits(load_model(model, 16))
    INDEX_DAMAGE[damage](_file(cache, ".index.json"))
    assert torch.equal(_logits(load_model(model, 16)), fresh)
    assert len(_rebuilds(logs)) == 1
    load_model(model, 16)
    assert len(_rebuilds(logs)) == 1


def test_a_cache_that_cannot_be_written_still_loads(
    cache: pathlib.Path,
    model: pathlib.Path,
    logs: list[dict[str, object]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Index and fused copies are an optimisation: failing to write them is only logged."""
    fresh = _logits(load_model(model, 16))
    for p in cache.iterdir():
        if not p.name.endswith(".q8_0.bin"):
            p.unlink()

    def full(*args: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("engine.loader._gguf.write_atomic", full)
    monkeypatch.setattr("engine.loader._gguf.write_blobs", full)
    assert torch.equal(_logits(load_model(model, 16)), fresh)
    assert [e["event"] for e in logs].count("model_cache.write_failed") == 2


def test_concurrent_first_loads_in_threads(cache: pathlib.Path, model: pathlib.Path) -> None:
    """Eight threads load one uncached model at once: all succeed, no temp file is left."""
    start = threading.Barrier(8)
    results: list[torch.Tensor | BaseException] = []

    def load() -> None:
        start.wait()
        try:
            results.append(_logits(load_model(model, 16)))
        except BaseException as e:
            results.append(e)

    threads = [threading.Thread(target=load) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    errors = [r for r in results if isinstance(r, BaseException)]
    assert errors == []
    assert all(torch.equal(r, results[0]) for r in results)  # type: ignore[arg-type]
    assert not list(cache.glob("*.tmp"))
    assert torch.equal(_logits(load_model(model, 16)), results[0])  # type: ignore[arg-type]


_CHILD = textwrap.dedent("""
    import os, pathlib, sys, time
    import engine.loader._gguf as g
    root = pathlib.Path(sys.argv[1])
    g.cache_dir = lambda: root
    from engine.loader import load_model
    (root.parent / f"ready-{os.getpid()}").write_text("")
    while not (root.parent / "go").exists():
        time.sleep(0.001)
    load_model(sys.argv[2], 16)
""")


@pytest.mark.slow
def test_concurrent_first_loads_in_processes(
    cache: pathlib.Path, model: pathlib.Path, logs: list[dict[str, object]]
) -> None:
    """Three processes start loading one uncached model at the same instant."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(cache), str(model)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(3)
    ]
    try:
        deadline = time.monotonic() + 120
        while len(list(cache.parent.glob("ready-*"))) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        (cache.parent / "go").write_text("")
        outs = [p.communicate(timeout=120) for p in procs]
    finally:
        for p in procs:
            p.kill()
    assert [p.returncode for p in procs] == [0, 0, 0], [err[-2000:] for _, err in outs]
    assert not list(cache.glob("*.tmp"))
    load_model(model, 16)  # reads what the three left: consistent, so no rebuild
    assert _rebuilds(logs) == []
