"""The public API is complete: what a public name takes or returns is public too.

Each package's surface is pinned exactly by its own test (tests/*/test_public_api*.py,
test_contracts.py, ...). These tests check the surfaces fit together:

- every annotation in the signatures (and fields) of every name in the walked
  packages' ``__all__`` names a class that is exported from some public module,
  never one reachable only through a ``_private`` module;
- the examples and the docs import public names only.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import sys
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("agentkit", "router", "tools", "engine")

WALKED = ("agentkit", "agentkit.testing", "agentkit.server", "router", "tools", "engine")
"""The packages whose ``__all__`` signatures are walked."""

PUBLIC_HOMES = (
    *WALKED,
    "agentkit.answers",
    "agentkit.approvals",
    "agentkit.errors",
    "agentkit.events",
    "agentkit.messages",
    "agentkit.models",
    "agentkit.results",
    "agentkit.safety",
    "agentkit.sessions",
    "agentkit.tracing",
    "engine.step",
    "engine.threads",
    "engine.kv_cache",
    "engine.loader",
    "engine.scheduler",
    "engine.speculative",
)
"""Public modules whose ``__all__`` make a class public (a type may live in any of them)."""


def _exported() -> dict[int, str]:
    out: dict[int, str] = {}
    for name in PUBLIC_HOMES:
        module = importlib.import_module(name)
        for attr in getattr(module, "__all__", ()):
            out.setdefault(id(getattr(module, attr)), f"{name}.{attr}")
    return out


def _type_checking_names(module: ModuleType) -> dict[str, object]:
    """The names a module imports under ``if TYPE_CHECKING:`` (annotations may use them)."""
    names: dict[str, object] = {}
    source = inspect.getsource(module)
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING"):
            block = ast.Module(body=node.body, type_ignores=[])
            exec(compile(block, module.__name__, "exec"), names)
    return names


def _hints(obj: Callable[..., object] | type) -> dict[str, object]:
    module = sys.modules[obj.__module__]
    try:
        return typing.get_type_hints(obj)
    except NameError:
        extra = {**vars(module), **_type_checking_names(module)}
        return typing.get_type_hints(obj, globalns=extra)


def _classes(tp: object) -> Iterator[type]:
    origin = typing.get_origin(tp)
    if origin is not None:
        if isinstance(origin, type):
            yield origin
        for arg in typing.get_args(tp):
            yield from _classes(arg)
    elif isinstance(tp, type):
        yield tp
    elif isinstance(tp, list | tuple):
        for arg in tp:
            yield from _classes(arg)


def _signatures(obj: object) -> Iterator[tuple[str, Callable[..., object] | type]]:
    """The callables whose annotations are the object's public contract."""
    if inspect.isclass(obj):
        yield "", obj  # fields (dataclasses, pydantic models, protocols)
        for name, member in vars(obj).items():
            if name.startswith("_") and name not in ("__init__", "__call__"):
                continue
            if isinstance(member, classmethod | staticmethod):
                member = member.__func__
            if isinstance(member, property):
                member = member.fget
            if inspect.isfunction(member):
                yield f".{name}", member
    elif inspect.isfunction(obj):
        yield "", obj


def _is_private(cls: type) -> bool:
    parts = cls.__module__.split(".")
    return parts[0] in PACKAGES and any(p.startswith("_") for p in parts)


def test_every_type_in_a_public_signature_is_exported() -> None:
    exported = _exported()
    missing: dict[str, set[str]] = {}
    for package in WALKED:
        module = importlib.import_module(package)
        for name in module.__all__:
            for where, target in _signatures(getattr(module, name)):
                for cls in _classes(list(_hints(target).values())):
                    if _is_private(cls) and id(cls) not in exported:
                        key = f"{cls.__module__}.{cls.__qualname__}"
                        missing.setdefault(key, set()).add(f"{package}.{name}{where}")
    assert not missing, "private types in public signatures:\n" + "\n".join(
        f"  {k} <- {sorted(v)}" for k, v in sorted(missing.items())
    )


def _python_sources() -> Iterator[tuple[str, str]]:
    for path in sorted((ROOT / "examples").rglob("*.py")):
        yield str(path.relative_to(ROOT)), path.read_text()
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    for page in pages:
        blocks = re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.S)
        for i, block in enumerate(blocks):
            yield f"{page.relative_to(ROOT)}#{i}", block


def _imports(source: str) -> Iterator[tuple[str, str | None]]:
    """(module, name) for each import; name None for ``import module``."""
    try:
        tree = ast.parse(source)
    except SyntaxError:  # a doc block that is a fragment (``...``)
        return
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                yield node.module, alias.name
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, None


@pytest.mark.parametrize(("where", "source"), list(_python_sources()))
def test_examples_and_docs_import_public_names_only(where: str, source: str) -> None:
    local = {p.name for p in (ROOT / "examples").iterdir() if p.is_dir()}
    bad = []
    for module, name in _imports(source):
        parts = module.split(".")
        if parts[0] not in PACKAGES or parts[0] in local:
            continue
        if any(p.startswith("_") for p in parts):
            bad.append(f"{module} (private module)")
            continue
        if name is not None and name != "*":
            public = getattr(importlib.import_module(module), "__all__", None)
            if public is not None and name not in public and not _is_submodule(module, name):
                bad.append(f"{module}.{name} (not in __all__)")
    assert not bad, f"{where} imports private names: {bad}"


def _is_submodule(module: str, name: str) -> bool:
    """``from agentkit import events`` imports a public module, not a name."""
    folder = ROOT / module.replace(".", "/")
    return not name.startswith("_") and (
        (folder / name).is_dir() or (folder / f"{name}.py").exists()
    )
