"""No import cycles among the modules of the four packages.

Every import counts, including those inside functions (an import moved into a
function to dodge a cycle is still a cycle); imports under ``if TYPE_CHECKING:``
do not, since they never run. A name that a package's ``__init__`` re-exports
counts as an import of the module it comes from, so ``from engine import Engine``
is an edge to ``engine._engine``, not to ``engine``.
"""

from __future__ import annotations

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = ("agentkit", "router", "tools", "engine")


def _modules() -> dict[str, pathlib.Path]:
    """Dotted module name → file, for every module of the four packages."""
    found: dict[str, pathlib.Path] = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, module: str, is_pkg: bool) -> list[tuple[str, list[str]]]:
    """(imported module, names taken from it) for each import that runs."""
    out: list[tuple[str, list[str]]] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            out.extend((alias.name, []) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor if is_pkg else anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            out.append((base, [alias.name for alias in node.names]))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return out


def _graph() -> dict[str, set[str]]:
    """Module → the package modules it imports, re-exports resolved to their source."""
    mods = _modules()
    raw = {
        name: _imports(ast.parse(path.read_text()), name, path.name == "__init__.py")
        for name, path in mods.items()
    }
    # Where each name a package __init__ binds comes from (only package-internal sources).
    origin: dict[tuple[str, str], str] = {}
    for name, path in mods.items():
        if path.name == "__init__.py":
            for src, names in raw[name]:
                for n in names:
                    origin[(name, n)] = src

    def resolve(src: str, names: list[str]) -> set[str]:
        targets: set[str] = set()
        for n in names or [""]:
            sub = f"{src}.{n}"
            if n and sub in mods:
                targets.add(sub)
                continue
            seen: set[tuple[str, str]] = set()
            cur = src
            while n and (cur, n) in origin and (cur, n) not in seen:
                seen.add((cur, n))
                cur = origin[(cur, n)]
            if cur in mods:
                targets.add(cur)
        return targets

    graph: dict[str, set[str]] = {}
    for name in mods:
        deps: set[str] = set()
        for src, names in raw[name]:
            if src.split(".")[0] in PACKAGES:
                deps |= resolve(src, names)
        deps.discard(name)
        graph[name] = deps
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def strongconnect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strongconnect(v)
    return found


def test_the_checker_sees_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]


def test_the_checker_counts_function_imports_and_skips_type_checking() -> None:
    tree = ast.parse(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from engine import x\n"
        "def f():\n    from engine._engine import Engine\n"
    )
    found = _imports(tree, "agentkit.mod", is_pkg=False)
    assert ("engine._engine", ["Engine"]) in found
    assert all(src != "engine" for src, _ in found)


def test_no_import_cycles() -> None:
    cycles = _cycles(_graph())
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)
