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
from typing import Any

import pytest
import structlog
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.kv_cache import KVCache
from engine.loader import LoadedModel, load_model
from engine.loader._cache import seal
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


def _read_ix(p: pathlib.Path) -> Any:
    return json.loads(p.read_bytes().partition(b"\n")[2])


def _resealed(edit: Callable[[Any], Any]) -> Callable[[pathlib.Path], None]:
    """Rewrite the index with ``edit`` applied and a valid digest (a foreign, wrong writer)."""
    return lambda p: p.write_bytes(seal(json.dumps(edit(_read_ix(p))).encode()))


def _rot(p: pathlib.Path) -> None:
    """Change one character of the JSON, keeping the digest line (bit rot, a torn write)."""
    data = bytearray(p.read_bytes())
    at = data.index(b'"add_bos": ') + len(b'"add_bos": ')
    data[at : at + 5] = b"true " if data[at : at + 5] == b"false" else b"false"
    p.write_bytes(bytes(data.rstrip(b" ")))


INDEX_DAMAGE: dict[str, Callable[[pathlib.Path], None]] = {
    "not json": lambda p: p.write_bytes(seal(b"{not json")),
    "no digest": lambda p: p.write_bytes(json.dumps(_read_ix(p)).encode()),
    "digest mismatch": _rot,
    "empty": lambda p: p.write_text(""),
    "truncated": _truncate,
    "a list": _resealed(lambda ix: []),
    "older version": _resealed(lambda ix: {**ix, "version": 2}),
    "config field mistyped": _resealed(lambda ix: _edit(ix, ["config", "dim"], "64")),
    "tensor past its file": _resealed(
        lambda ix: _edit(ix, ["tensors", "token_embd.weight", "offset"], 1 << 40)
    ),
    "tensor entry gone": _resealed(lambda ix: _drop(ix, "blk.0.attn_norm.weight")),
    "tokenizer garbage": _resealed(lambda ix: {**ix, "tokenizer": "{}"}),
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


def _leaves(node: object, path: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    """Every leaf's path in a JSON value (lists by index, objects by key)."""
    if isinstance(node, dict):
        return [p for k, v in node.items() for p in _leaves(v, (*path, k))]
    if isinstance(node, list):
        return [p for i, v in enumerate(node) for p in _leaves(v, (*path, i))]
    return [path]


_LEAF_VALUES = st.one_of(
    st.none(), st.booleans(), st.sampled_from([0, -1, 1, 7, 64, 1 << 40, 1.5, "", "x", "F32"]),
    st.just([]), st.just({}),
)  # fmt: skip


@settings(
    derandomize=True,
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_any_change_to_the_index_is_caught_or_harmless(
    cache: pathlib.Path, model: pathlib.Path, data: st.DataObject
) -> None:
    """Property: whatever one value of the cached index becomes, the next load is right.

    With the old digest kept (damage), the load always rebuilds; resealed (a wrong
    writer), the structural checks catch it or the change does not alter the model.
    """
    if cache not in _SNAPSHOTS:  # first example: a whole cache, and the logits it gives
        fresh = _logits(load_model(model, 16))
        _SNAPSHOTS[cache] = (_file(cache, ".index.json").read_bytes(), fresh)
    sealed, fresh = _SNAPSHOTS[cache]
    digest, _, text = sealed.partition(b"\n")
    ix = json.loads(text)
    path = data.draw(st.sampled_from(sorted(_leaves(ix), key=repr)))
    node = ix
    for key in path[:-1]:
        node = node[key]
    changed = node[path[-1]] != (value := data.draw(_LEAF_VALUES))
    node[path[-1]] = value
    reseal = data.draw(st.booleans())
    payload = json.dumps(ix).encode()
    _file(cache, ".index.json").write_bytes(seal(payload) if reseal else digest + b"\n" + payload)
    with structlog.testing.capture_logs() as logs:
        assert torch.equal(_logits(load_model(model, 16)), fresh)
    if changed and not reseal:
        assert len(_rebuilds(logs)) == 1


_SNAPSHOTS: dict[pathlib.Path, tuple[bytes, torch.Tensor]] = {}


def test_cache_files_keep_the_usual_permissions(cache: pathlib.Path, model: pathlib.Path) -> None:
    """Temporary files are private (0600); what they become is not."""
    load_model(model, 16)
    assert {p.stat().st_mode & 0o777 for p in cache.iterdir()} == {0o644}
