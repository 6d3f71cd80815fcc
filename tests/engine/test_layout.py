"""The engine's layout: what runs in production never imports what measures or trains it.

``engine/bench/`` holds the benchmark harness and ``engine/distill/`` the
training code; no other engine module imports either, not even inside a
function, so ``import engine`` (and the server) loads neither.
"""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

ENGINE = pathlib.Path(__file__).resolve().parents[2] / "engine"
HARNESS = ("engine.bench", "engine.distill")


def _imported(source: str, package: tuple[str, ...]) -> set[str]:
    """Every module ``source`` (a module of ``package``) imports, anywhere in it."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package[: len(package) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return found


def _harness(module: str) -> bool:
    return any(module == h or module.startswith(h + ".") for h in HARNESS)


def _runtime_modules() -> list[pathlib.Path]:
    return [
        p
        for p in sorted(ENGINE.rglob("*.py"))
        if p.relative_to(ENGINE).parts[0] not in ("bench", "distill")
    ]


def test_runtime_modules_never_import_the_harness_or_training() -> None:
    offenders = {}
    for path in _runtime_modules():
        package = path.relative_to(ENGINE.parent).parts[:-1]
        bad = sorted(m for m in _imported(path.read_text(), package) if _harness(m))
        if bad:
            offenders[str(path.relative_to(ENGINE.parent))] = bad
    assert offenders == {}


def test_the_checker_sees_function_level_and_relative_imports() -> None:
    source = "def f():\n    from engine.bench.timing import generate\n    from ..distill import x\n"
    found = _imported(source, ("engine", "scheduler"))
    assert "engine.bench.timing" in found and "engine.distill" in found
    assert _harness("engine.distill") and not _harness("engine.benchmarks_elsewhere")


def test_importing_the_engine_loads_no_harness_module() -> None:
    code = (
        "import sys, engine, engine.scheduler, engine.speculative\n"
        "bad = [m for m in sys.modules if m.startswith(('engine.bench', 'engine.distill'))]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ENGINE.parent)
