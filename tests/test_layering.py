"""Layering: agentkit, router and tools never import torch."""

from __future__ import annotations

import subprocess
import sys
import textwrap

LIGHT = "agentkit, agentkit.testing, agentkit.errors, agentkit.events, agentkit.cli, router, tools"


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120
    )


def test_light_packages_leave_torch_unloaded() -> None:
    proc = _run(f"""
        import sys
        import {LIGHT}
        heavy = sorted(m for m in ("torch", "engine", "transformers", "numpy.core._torch")
                       if m in sys.modules)
        print(heavy)
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_light_packages_import_without_torch_installed() -> None:
    # A meta-path finder that refuses torch stands in for a machine without it.
    proc = _run(f"""
        import sys
        class NoTorch:
            def find_spec(self, name, path=None, target=None):
                if name == "torch" or name.startswith("torch."):
                    raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
                return None
        sys.meta_path.insert(0, NoTorch())
        import {LIGHT}
        from agentkit.cli import build_parser
        build_parser()
        print("ok")
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"
