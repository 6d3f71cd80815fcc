"""`TextGuard`: streamed output equals the one-shot cut, and never leaks past a stop."""

from __future__ import annotations

import random

import pytest

from agentkit.server._textstop import TextGuard, suffix_anchor


def _streamed(text: str, cuts: list[int], stops: list[str], suffix: str | None) -> str:
    guard = TextGuard(stops=stops, suffix=suffix)
    out, prev = [], 0
    for cut in [*cuts, len(text)]:
        out.append(guard.feed(text[prev:cut]))
        prev = cut
        assert all(stop not in "".join(out) for stop in stops)  # never leaked, even mid-way
    out.append(guard.flush())
    return "".join(out)


def _oneshot(text: str, stops: list[str], suffix: str | None) -> str:
    """The oracle: cut at the earliest stop, or at the first line repeating the anchor."""
    ends = [text.find(s) for s in stops if s in text]
    anchor = suffix_anchor(suffix)
    if anchor is not None:
        pos = 0
        for line in text.split("\n"):
            if line.lstrip(" \t").startswith(anchor):
                drop = pos > 0 and (suffix or "").lstrip(" \t").startswith("\n")
                ends.append(pos - 1 if drop else pos)
                break
            pos += len(line) + 1
    return text[: min(ends)] if ends else text


@pytest.mark.parametrize("seed", range(200))
def test_streaming_matches_oneshot_oracle(seed: int) -> None:
    rng = random.Random(seed)
    alphabet = "ab \nxyz"
    text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))
    stops = [
        "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 4)))
        for _ in range(rng.randint(0, 2))
    ]
    suffix = rng.choice([None, "\n  xyz\n", "xya b", "\nab"])
    cuts = sorted(rng.sample(range(len(text) + 1), k=min(len(text) + 1, rng.randint(0, 12))))
    assert _streamed(text, cuts, stops, suffix) == _oneshot(text, stops, suffix)


def test_fim_example_and_short_anchor() -> None:
    out = _streamed(
        "total = a + b\n    return total\nmore", [3, 15, 20], [], "\n    return total\n"
    )
    assert out == "total = a + b"
    assert suffix_anchor("\n}\n") is None  # too short to trust
    assert _streamed("x\n}\ny", [1, 2], [], "\n}\n") == "x\n}\ny"
