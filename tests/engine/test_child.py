"""`in_child`: a function run in a fresh process, its JSON result or its error."""

from __future__ import annotations

import pytest

from engine.bench._child import in_child


def test_in_child_returns_the_json_result() -> None:
    row = in_child(
        "engine.bench._peer:timing_row", prompt_tokens=10, new_tokens=5, ttft_s=0.5, decode_s=0.1
    )
    assert row["prompt_tokens_per_s"] == 20.0 and row["decode_tokens_per_s"] == 40.0


def test_in_child_raises_with_the_child_error() -> None:
    with pytest.raises(RuntimeError, match="unexpected keyword"):
        in_child("engine.bench._peer:timing_row", nope=1)
