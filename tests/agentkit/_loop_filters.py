"""Small `SafetyFilter` implementations for the agent-loop tests."""

from __future__ import annotations

import re

from agentkit._safety_types import GuardStep, PIISpan, SafetyStage, SafetyVerdict

EMAIL = re.compile(r"[\w.]+@[\w.]+\.\w+")


def _pii(text: str) -> tuple[PIISpan, ...]:
    return tuple(PIISpan(kind="email", start=m.start(), end=m.end()) for m in EMAIL.finditer(text))


class WindowGuard:
    """Holds back ``window`` characters; refuses once ``banned`` appears in the output."""

    def __init__(self, banned: str, window: int) -> None:
        self.banned, self.window = banned, window
        self.buffer, self.sent = "", 0

    def feed(self, delta: str) -> GuardStep:
        self.buffer += delta
        if self.banned in self.buffer:
            return GuardStep(
                released="", verdict=SafetyVerdict(action="refuse", reasons=("banned",))
            )
        upto = max(self.sent, len(self.buffer) - self.window)
        out, self.sent = self.buffer[self.sent : upto], upto
        return GuardStep(released=out, verdict=SafetyVerdict())

    def finish(self) -> GuardStep:
        out, self.sent = self.buffer[self.sent :], len(self.buffer)
        return GuardStep(released=out, verdict=SafetyVerdict())


class KeywordFilter:
    """Refuses ``refuse_word``; escalates ``deep_word``; redacts e-mail addresses."""

    def __init__(
        self, refuse_word: str = "bomb", deep_word: str = "lawyer", banned_out: str = "SECRET"
    ) -> None:
        self.refuse_word, self.deep_word, self.banned_out = refuse_word, deep_word, banned_out
        self.seen: list[tuple[SafetyStage, str]] = []

    async def check(self, text: str, *, stage: SafetyStage) -> SafetyVerdict:
        self.seen.append((stage, text))
        if self.refuse_word in text:
            return SafetyVerdict(action="refuse", flagged=True, reasons=("weapons",))
        pii = _pii(text)
        if pii:
            return SafetyVerdict(action="redact", pii=pii)
        if self.deep_word in text:
            return SafetyVerdict(action="escalate", reasons=("legal",))
        return SafetyVerdict()

    def stream_guard(self) -> WindowGuard:
        return WindowGuard(self.banned_out, window=8)


class BrokenFilter:
    """A filter whose backend is down."""

    async def check(self, text: str, *, stage: SafetyStage) -> SafetyVerdict:
        raise ConnectionError("guard service down")

    def stream_guard(self) -> WindowGuard:
        return WindowGuard("\x00", window=0)
