"""Property: a mutated checkpoint loads into a consistent model or raises `ModelLoadError`.

Mutated copies of the tiny model (`_tiny_gguf`): GGUF metadata values and
types, tensor shapes, types, names and counts, header counts, integer fields
overwritten byte-wise, truncation; safetensors headers (length, dtype,
shape, offsets) and ``config.json`` values. Any other exception fails the
property; a crash would kill the process, so the long variant (``slow``)
loads in a child process that reports each outcome and is watched for death.
"""

from __future__ import annotations

import json
import pathlib
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import ModelLoadError
from engine.kv_cache import KVCache
from engine.loader import LoadedModel, load_model
from tests.engine._fuzz_gguf import (
    gguf_mutation,
    hf_mutation,
    mutated_gguf,
    mutated_hf_folder,
    raw_gguf_mutation,
)

# Garbage blocks re-quantized from Q5_0 hold NaN scales: numpy warns, the model is just NaN.
pytestmark = pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")

FAST = settings(
    derandomize=True,
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.fixture(scope="module")
def workdir() -> Iterator[pathlib.Path]:
    """One folder for the mutated files and the loader's cache (a fixture per test is slow)."""
    with tempfile.TemporaryDirectory() as d, pytest.MonkeyPatch.context() as mp:
        root = pathlib.Path(d)
        (root / "cache").mkdir()
        mp.setattr("engine.loader._gguf.cache_dir", lambda: root / "cache")
        yield root


def check_consistent(m: LoadedModel) -> None:
    """A model that loaded must hold together: shapes agree and a forward runs."""
    c = m.config
    assert m.model.embed.shape == (c.vocab_size, c.dim)
    assert m.model.head.shape[1] == c.dim
    assert m.tokenizer.get_vocab_size(with_added_tokens=True) <= c.vocab_size
    t = min(4, c.vocab_size)
    cache = KVCache(c.n_layers, 1, c.n_kv_heads, 8, c.head_dim)
    tokens = torch.arange(c.vocab_size - t, c.vocab_size)  # the last rows: overreads show
    logits = m.model.forward(tokens, torch.zeros(t, dtype=torch.long), torch.arange(t), cache)
    assert logits.shape == (t, m.model.head.shape[0])


def load_or_typed_error(path: pathlib.Path) -> str:
    """ "ok" (twice: fresh, then from the cache) or the typed error's class name."""
    try:
        first = load_model(path, 8)
    except ModelLoadError as e:
        return type(e).__name__
    check_consistent(first)
    second = load_model(path, 8)  # the cached index must describe the same model
    assert second.config == first.config
    check_consistent(second)
    return "ok"


@FAST
@given(mutation=gguf_mutation())
def test_mutated_gguf_loads_or_raises_typed(workdir: pathlib.Path, mutation: Any) -> None:
    load_or_typed_error(mutated_gguf(workdir, mutation))


@FAST
@given(mutation=raw_gguf_mutation())
def test_gguf_bytes_loads_or_raises_typed(workdir: pathlib.Path, mutation: Any) -> None:
    load_or_typed_error(mutated_gguf(workdir, mutation))


@FAST
@given(mutation=hf_mutation())
def test_mutated_hf_folder_loads_or_raises_typed(workdir: pathlib.Path, mutation: Any) -> None:
    load_or_typed_error(mutated_hf_folder(workdir, mutation))


def test_the_fuzzers_reach_both_outcomes(workdir: pathlib.Path) -> None:
    """A fuzzer whose every case failed early (or loaded) would test little."""
    outcomes: set[str] = set()

    @settings(derandomize=True, max_examples=40, deadline=None, database=None)
    @given(mutation=gguf_mutation())
    def run(mutation: Any) -> None:
        outcomes.add(load_or_typed_error(mutated_gguf(workdir, mutation)))

    run()
    assert "ok" in outcomes and "ModelFormatError" in outcomes, outcomes


# ---- the long variant: many more cases, each load in a watched child process ----

_CHILD = """
import json, pathlib, sys
import engine.loader._gguf as g
root = pathlib.Path(sys.argv[1])
g.cache_dir = lambda: root
from tests.engine.test_loader_fuzz import load_or_typed_error
for line in sys.stdin:
    try:
        out = load_or_typed_error(pathlib.Path(line.strip()))
    except BaseException as e:
        out = f"UNTYPED {type(e).__name__}: {e}"
    print("RESULT", json.dumps(out), flush=True)
"""


_CHILD_MEMORY = 8 << 30  # address space: torch maps ~3 GB; the tiny model needs little more


class Child:
    """A loader process fed one path a line; a death is reported as a crash."""

    def __init__(self, cache: pathlib.Path) -> None:
        import os
        import resource
        import subprocess
        import sys

        def limit_memory() -> None:  # a huge allocation fails as MemoryError, not the machine
            resource.setrlimit(resource.RLIMIT_AS, (_CHILD_MEMORY, _CHILD_MEMORY))

        repo = str(pathlib.Path(__file__).resolve().parents[2])
        self._proc = subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(cache)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONPATH": repo}, cwd=repo, preexec_fn=limit_memory,
        )  # fmt: skip

    def load(self, path: pathlib.Path) -> str:
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write(f"{path}\n")
        self._proc.stdin.flush()
        while True:  # skip what else the load prints (a progress bar)
            line = self._proc.stdout.readline()
            if not line:
                code = self._proc.wait()
                raise AssertionError(f"the loader process died (exit {code}) on {path}")
            if line.startswith("RESULT "):
                return str(json.loads(line.removeprefix("RESULT ")))

    def close(self) -> None:
        self._proc.kill()
        self._proc.wait()


@pytest.mark.slow
def test_mutated_checkpoints_in_a_child_process(workdir: pathlib.Path) -> None:
    child = Child(workdir / "cache")
    kinds = st.one_of(
        gguf_mutation().map(lambda m: ("gguf", m)),
        raw_gguf_mutation().map(lambda m: ("gguf", m)),
        hf_mutation().map(lambda m: ("hf", m)),
    )

    @settings(max_examples=1500, deadline=None, database=None)
    @given(case=kinds)
    def run(case: tuple[str, Any]) -> None:
        kind, mutation = case
        make = mutated_gguf if kind == "gguf" else mutated_hf_folder
        path = make(workdir, mutation)
        out = child.load(path)
        assert not out.startswith("UNTYPED"), (out, mutation)

    try:
        run()
    finally:
        child.close()
