"""The benchmark harness stays out of the runtime: only `agentkit bench` reaches it, lazily."""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[3]
HARNESS = ROOT / "agentkit" / "bench"
# What measures the agent (answer evaluation) is harness too: it may use the bench stats.
EVALS = ROOT / "agentkit" / "evals"
CLI_COMMANDS = {ROOT / "agentkit" / "cli" / name for name in ("_bench.py", "_bench_load.py")}


def _imports(path: pathlib.Path) -> list[tuple[str, bool]]:
    """(module imported, at module level?) for each import in ``path``."""
    tree = ast.parse(path.read_text(), str(path))
    top = {id(node) for node in tree.body}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(alias.name, id(node) in top) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [f"{node.module}.{alias.name}" for alias in node.names]
            out += [(name, id(node) in top) for name in [node.module, *names]]
    return out


def test_no_runtime_module_imports_the_harness() -> None:
    runtime = [
        p
        for p in (ROOT / "agentkit").rglob("*.py")
        if HARNESS not in p.parents and EVALS not in p.parents and p not in CLI_COMMANDS
    ]
    found = [
        f"{p.relative_to(ROOT)} imports {name}"
        for p in runtime
        for name, _ in _imports(p)
        if name == "agentkit.bench" or name.startswith("agentkit.bench.")
    ]
    assert found == []


def test_the_cli_imports_the_harness_only_inside_its_commands() -> None:
    eager = [
        n
        for path in sorted(CLI_COMMANDS)
        for n, top in _imports(path)
        if n.startswith("agentkit.bench") and top
    ]
    assert eager == []
    code = (
        "import sys, agentkit, agentkit.server, agentkit.testing\n"
        "from agentkit.cli import build_parser\n"
        "build_parser().parse_args(['bench', 'soak', '--minutes', '1'])\n"
        "print(sorted(m for m in sys.modules if m.startswith('agentkit.bench')))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
