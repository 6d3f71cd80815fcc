"""The batching benchmark's workload: a seeded mix of requests, as token ids.

Half customer-service turns sharing one policy system prompt (16–40 output
tokens), a quarter code completions (24–64), a quarter long answers (96–160);
`engine.bench.batching` runs it in each serving mode.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine._engine import Engine

__all__ = ["Job", "Record", "make_workload", "workload_messages"]

_POLICY = (
    "You are the support assistant of Northwind Outfitters. Policy: orders ship within 2 "
    "business days; returns are accepted within 30 days with the receipt; refunds go to the "
    "original payment method within 5 business days; damaged items are replaced free of charge; "
    "express shipping costs $12 and is not refundable. Answer briefly and politely."
)
_QUESTIONS = [
    "My order #{n} has not arrived yet. What should I do?",
    "Can I return a jacket I bought {n} days ago?",
    "How long does a refund take for order #{n}?",
    "The boots in order #{n} arrived damaged. Can you help?",
    "Is express shipping refundable if order #{n} is late?",
]
_CODE = [
    'def parse_price(text: str) -> float:\n    """Parse \'$1,234.50\' into 1234.5."""\n',
    'def moving_average(xs: list[float], k: int) -> list[float]:\n    """Mean of each window."""\n',
    "class LRUCache:\n    def __init__(self, capacity: int) -> None:\n",
    'def is_palindrome(s: str) -> bool:\n    """Ignore case and punctuation."""\n',
]
_TOPICS = [
    "how vaccines train the immune system",
    "why the sky is blue",
    "how a bill becomes law",
    "the causes of the French Revolution",
    "how compilers optimise loops",
]


@dataclass(frozen=True)
class Job:
    """One benchmark request.

    Attributes:
        kind: ``"customer_service"``, ``"code"`` or ``"long"``.
        prompt: token ids.
        max_tokens: output bound.
    """

    kind: str
    prompt: list[int]
    max_tokens: int


@dataclass
class Record:
    """One finished request: its kind, completion tokens, end-to-end and first-token seconds."""

    kind: str
    tokens: int
    e2e_s: float
    ttft_s: float


def workload_messages(
    n: int, seed: int = 0, scale: float = 1.0
) -> list[tuple[str, list[dict[str, str]], int]]:
    """``n`` requests ``(kind, chat messages, max_tokens)`` from the fixed seeded mix.

    50% customer service, 25% code, 25% long answers; the HTTP load benchmark
    (`agentkit.bench._load`) sends these as they are, `make_workload` tokenizes them.

    Args:
        n: number of requests.
        seed: the mix and the lengths are a function of it.
        scale: multiplies the output lengths (``quick`` runs use 0.25).
    """
    rng = random.Random(seed)
    out: list[tuple[str, list[dict[str, str]], int]] = []
    for _ in range(n):
        r = rng.random()
        if r < 0.5:
            q = rng.choice(_QUESTIONS).format(n=rng.randrange(1000, 9999))
            msgs = [{"role": "system", "content": _POLICY}, {"role": "user", "content": q}]
            kind, lo, hi = "customer_service", 16, 40
        elif r < 0.75:
            msgs = [{"role": "user", "content": "Complete this code:\n" + rng.choice(_CODE)}]
            kind, lo, hi = "code", 24, 64
        else:
            msgs = [{"role": "user", "content": f"Explain in detail {rng.choice(_TOPICS)}."}]
            kind, lo, hi = "long", 96, 160
        out.append((kind, msgs, max(2, round(rng.randint(lo, hi) * scale))))
    return out


def make_workload(engine: Engine, n: int, seed: int = 0, scale: float = 1.0) -> list[Job]:
    """``n`` jobs from a fixed seeded mix (50% customer service, 25% code, 25% long answers).

    Args:
        engine: renders and tokenizes the prompts.
        n: number of jobs.
        seed: the mix and the lengths are a function of it (`workload_messages`).
        scale: multiplies the output lengths (``quick`` runs use 0.25).
    """
    return [
        Job(kind, engine.encode(engine.render_chat(msgs)), max_tokens)
        for kind, msgs, max_tokens in workload_messages(n, seed, scale)
    ]
