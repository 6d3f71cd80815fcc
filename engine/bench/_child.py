"""`in_child`: run a benchmark function in a fresh Python process, get its JSON back.

Every engine benchmark runs in a process of its own: one stray torch operation
on another thread of a long-lived process starts a second OpenMP team, after
which every step of the engine runs ~2.5x slower (measured: plain decode
40 tok/s inside the report process against 91-110 in a child, same minute).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["in_child"]


def in_child(target: str, **kwargs: Any) -> Any:
    """Run ``module:function(**kwargs)`` in a fresh Python process; return its JSON result.

    ``kwargs`` must be JSON; a result with ``to_json`` is converted first.

    Raises:
        RuntimeError: the child failed (the tail of its stderr is in the message).
    """
    module, _, function = target.partition(":")
    code = (
        "import importlib, json, sys\n"
        f"fn = getattr(importlib.import_module({module!r}), {function!r})\n"
        "out = fn(**json.loads(sys.argv[1]))\n"
        "out = out.to_json() if hasattr(out, 'to_json') else out\n"
        "json.dump(out, open(sys.argv[2], 'w'))\n"
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "out.json"
        proc = subprocess.run(
            [sys.executable, "-c", code, json.dumps(kwargs), str(path)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if proc.returncode != 0:
            raise RuntimeError(f"{target} failed: {proc.stderr[-2000:]}")
        return json.loads(path.read_text())
