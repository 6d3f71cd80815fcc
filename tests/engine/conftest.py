"""Engine test fixtures: one default engine shared by the whole session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from engine import Engine, kernels


@pytest.fixture(scope="session")
def default_engine() -> Engine:
    """The bundled SmolLM2-135M-Instruct Q4_1, with 4 slots of 1024 positions."""
    return Engine.load("default", max_seq_len=1024, max_slots=4)


@pytest.fixture(scope="session")
def chat_prompts(default_engine: Engine) -> list[str]:
    """A few rendered chat prompts of different shapes."""
    questions = [
        "What is the capital of France?",
        "Write a Python function that adds two numbers.",
        "My order #1234 has not arrived. What should I do?",
    ]
    return [default_engine.render_chat([{"role": "user", "content": q}]) for q in questions]


@pytest.fixture
def fp32_activations() -> Iterator[None]:
    """Multiply quantized weights with fp32 activations (exact to the dequantized reference).

    The default on AVX2 quantizes activations to int8 per 32-block, as llama.cpp
    does: faster, but ~1e-2 from the reference, so oracle tests pin this path.
    """
    from engine import kernels

    kernels.set_act_quant(False)
    try:
        yield
    finally:
        kernels.set_act_quant(None)


def _on_path(path: str) -> Iterator[str]:
    """Make ``path`` the serving kernel path for the test (skipped if it does not build)."""
    kernels.set_kernel_path(path)
    try:
        if kernels.kernel_path() != path:
            pytest.skip(f"kernel path {path} did not build")
        yield path
    finally:
        kernels.set_kernel_path(None)


@pytest.fixture(params=kernels.available_paths())
def kernel_path(request: pytest.FixtureRequest) -> Iterator[str]:
    """Each kernel path this CPU runs (``avx512vnni``, ``avx2``, ``portable``...), made active.

    Exactness tests take this fixture so that every path is held to them; a
    path that does not build is skipped.
    """
    yield from _on_path(request.param)


@pytest.fixture(
    params=[
        pytest.param(p, marks=pytest.mark.slow) if p == "portable" else p
        for p in kernels.available_paths()
    ]
)
def model_kernel_path(request: pytest.FixtureRequest) -> Iterator[str]:
    """`kernel_path` for tests that decode the default model: the scalar path is slow there."""
    yield from _on_path(request.param)
