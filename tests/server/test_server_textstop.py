"""`TextGuard`: streamed output equals the one-shot cut, and never leaks past a stop."""

from __future__ import annotations

import random
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


class _Rescan:
    """The reference: every feed rescans the whole text (the guard's semantics, quadratic)."""

    def __init__(self, stops: list[str], suffix: str | None) -> None:
        self.stops, self.anchor = [s for s in stops if s], suffix_anchor(suffix)
        self.drop = bool(suffix) and (suffix or "").lstrip(" \t").startswith("\n")
        self.text, self.sent, self.stopped = "", 0, False

    def _cut(self) -> int | None:
        cuts = [i for i in (self.text.find(s) for s in self.stops) if i >= 0]
        start = 0
        for line in self.text.split("\n") if self.anchor else ():
            if line.lstrip(" \t").startswith(self.anchor or ""):
                cuts.append(start - 1 if start > 0 and self.drop else start)
                break
            start += len(line) + 1
        return min(cuts, default=None)

    def _hold(self) -> int:
        t = self.text
        holds = [
            k for s in self.stops for k in range(1, min(len(s), len(t) + 1)) if s[:k] == t[-k:]
        ]
        line = t.rfind("\n") + 1
        if self.anchor is not None and self.anchor.startswith(t[line:].lstrip(" \t")):
            holds.append(len(t) - line + (1 if line > 0 and self.drop else 0))
        return max(holds, default=0)

    def feed(self, delta: str) -> str:
        if self.stopped:
            return ""
        self.text += delta
        cut = self._cut()
        self.stopped = cut is not None
        upto = max(cut, self.sent) if cut is not None else len(self.text) - self._hold()
        out, self.sent = self.text[self.sent : upto], max(self.sent, upto)
        return out


@settings(derandomize=True, max_examples=400, deadline=None)
@given(
    text=st.text("ab \n\tx", max_size=60),
    stops=st.lists(st.text("ab x", min_size=1, max_size=6), max_size=3),
    suffix=st.sampled_from([None, "\n  xab\n", "ab b", "\nab", "  a a\n", "\n\t ab  \n"]),
    cuts=st.lists(st.integers(0, 60), max_size=20),
)
def test_incremental_guard_equals_the_rescanning_reference(
    text: str, stops: list[str], suffix: str | None, cuts: list[int]
) -> None:
    guard, ref = TextGuard(stops=stops, suffix=suffix), _Rescan(stops, suffix)
    prev = 0
    for cut in sorted({*(c for c in cuts if c <= len(text)), len(text)}):
        assert guard.feed(text[prev:cut]) == ref.feed(text[prev:cut])
        assert guard.stopped == ref.stopped
        prev = cut
    assert guard.flush() == ("" if ref.stopped else ref.text[ref.sent :])


def test_a_long_stream_costs_per_delta_not_per_text() -> None:
    """20,000 one-character deltas: the rescanning guard took ~13 s (quadratic), this ~0.1 s."""
    guard = TextGuard(stops=["x" * 400, "ab" * 200], suffix="\n    return total\n")
    start = time.perf_counter()
    for i in range(20_000):
        guard.feed("\n" if i % 50 == 0 else "a")
    assert time.perf_counter() - start < 2.0
    assert not guard.stopped and len(guard.text) > 19_000
