"""One table of storage formats: the C++ header's, exported by the extension, is Python's.

``engine/kernels/_formats.h`` is the source; ``engine.kernels._formats`` copies it for
code that runs without the extension. These tests fail when the two diverge, and when
the ``.pyi`` stub stops describing what ``_bind.cpp`` exports.
"""

from __future__ import annotations

import ast
import pathlib

import pytest
import torch

from engine import kernels
from engine.kernels import BLOCK, BLOCK_BYTES, QWeight
from engine.kernels._build import load_extension
from engine.kernels._formats import FORMATS
from engine.kernels._pack import pack_rows8
from tests.engine.test_kernels import make_weight

_STUB = pathlib.Path(kernels.__file__).parent / "_ext.pyi"


def test_python_format_table_is_the_extensions() -> None:
    ext = load_extension()
    if ext is None:
        pytest.skip("the C++ backend is off")
    python = [
        (s.name, s.code, s.block_elems, s.block_bytes, s.scale_bytes) for s in FORMATS.values()
    ]
    assert ext.formats() == python


def test_derived_tables_agree_with_the_format_table() -> None:
    assert [s.code for s in FORMATS.values()] == list(range(len(FORMATS)))  # C++ indexes by code
    assert {n: s.block_bytes for n, s in FORMATS.items() if n != "f32"} == BLOCK_BYTES
    assert all(s.block_elems == BLOCK for n, s in FORMATS.items() if n in BLOCK_BYTES)


@pytest.mark.parametrize("fmt", ["f32", "q8_0", "q4_0", "q4_1"])
def test_a_weights_storage_is_rows_times_blocks(fmt: str) -> None:
    """``K / block_elems · block_bytes`` a row, for every format (what the kernels check)."""
    w = make_weight(fmt, 16, 64)
    spec = FORMATS[w.fmt]
    assert (
        w.data.numel() * w.data.element_size() == 16 * (64 // spec.block_elems) * spec.block_bytes
    )
    if fmt != "f32":  # the interleaved copy is a permutation of the same bytes
        assert pack_rows8(w).numel() == w.data.numel()


def test_kernels_reject_a_format_code_outside_the_table() -> None:
    ext = load_extension()
    if ext is None:
        pytest.skip("the C++ backend is off")
    w = make_weight("q8_0", 8, 32)
    x = torch.randn(1, 32)
    for call in (ext.linear, ext.linear_i8, ext.linear_x8):
        with pytest.raises(ValueError, match="unknown format code 4"):
            call(x, w.data, len(FORMATS), 8, 32)
    with pytest.raises(ValueError, match="not quantized"):
        ext.linear_i8(x, torch.zeros(8, 32), 0, 8, 32)


def _stub_names() -> set[str]:
    tree = ast.parse(_STUB.read_text())
    ext = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Extension")
    names = {
        n.target.id
        for n in ext.body
        if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)
    }
    return names | {n.name for n in ext.body if isinstance(n, ast.FunctionDef)}


def test_stub_names_exactly_what_the_extension_exports() -> None:
    ext = load_extension()
    if ext is None:
        pytest.skip("the C++ backend is off")
    exported = {n for n in dir(ext) if not n.startswith("_")}
    assert _stub_names() == exported


def test_plan_types_take_named_fields_only() -> None:
    """The plan's structs are built by name from Python: positional calls are refused."""
    ext = load_extension()
    if ext is None:
        pytest.skip("the C++ backend is off")
    w = QWeight.from_float(torch.zeros(8, 32))
    assert ext.PlanWeight(fmt="f32", n=8, k=32, data=w.data) is not None
    with pytest.raises(TypeError):
        ext.PlanWeight("f32", 8, 32, w.data)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="unknown weight format 'q5_0'"):
        ext.PlanWeight(fmt="q5_0", n=8, k=32, data=w.data)
