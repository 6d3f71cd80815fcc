"""Which thread ran each `LocalSafetyFilter.check_sync` call (event loop or worker)."""

from __future__ import annotations

import threading

import pytest

from agentkit.safety import LocalSafetyFilter


def record_check_threads(filt: LocalSafetyFilter, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Patch ``filt.check_sync`` to append its thread's id to the returned list."""
    seen: list[int] = []
    real = filt.check_sync

    def recording(text: str, *, stage: str) -> object:
        seen.append(threading.get_ident())
        return real(text, stage=stage)  # type: ignore[arg-type]

    monkeypatch.setattr(filt, "check_sync", recording)
    return seen
