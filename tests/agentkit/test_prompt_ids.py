"""`PromptIds`: a counted prompt is tokenised once, large ones off the loop; memory bounded."""

from __future__ import annotations

import threading

import anyio

from agentkit._prompt_ids import INLINE_TOKENIZE_CHARS, PromptIds


class _Tokenizer:
    """One token per character; records every call and its thread."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, str]] = []

    def __call__(self, text: str) -> list[int]:
        self.calls.append((len(text), threading.current_thread().name))
        return [ord(c) % 256 for c in text]


def test_a_counted_prompt_is_tokenised_once() -> None:
    tok = _Tokenizer()
    ids = PromptIds(tok, fits=100_000)
    big = "x" * (INLINE_TOKENIZE_CHARS * 3)

    async def main() -> tuple[int, list[int], list[int]]:
        n = await ids.count(big)
        return n, await ids.take(big), await ids.take(big)

    n, first, second = anyio.run(main)
    assert n == len(big) and first == second == [ord("x")] * len(big)
    assert len(tok.calls) == 2  # counted once, taken once; the second take had nothing kept


def test_large_prompts_are_tokenised_off_the_event_loop() -> None:
    tok = _Tokenizer()
    ids = PromptIds(tok, fits=10**6)
    here = threading.current_thread().name  # anyio.run's loop runs in this thread

    async def main() -> None:
        await ids.count("small")
        await ids.count("y" * (INLINE_TOKENIZE_CHARS + 1))
        await ids.take("z" * (INLINE_TOKENIZE_CHARS + 1))

    anyio.run(main)
    assert [thread == here for _, thread in tok.calls] == [True, False, False]


def test_only_prompts_that_fit_are_kept_and_at_most_keep_of_them() -> None:
    tok = _Tokenizer()
    ids = PromptIds(tok, fits=10, keep=3)
    assert ids.count_sync("x" * 10) == 10  # does not fit: never generated from, not kept
    for i in range(5):
        ids.count_sync(f"p{i}")
    assert list(ids._kept) == ["p2", "p3", "p4"]
    calls = len(tok.calls)
    assert anyio.run(ids.take, "p4") == [ord("p"), ord("4")]
    assert anyio.run(ids.take, "x" * 10) and len(tok.calls) == calls + 1
