"""The fast tier's direction: a nearest-neighbour classifier, and the calculator's sign.

SmolLM2-135M, asked for a `Signal` under its JSON schema, answered ``long`` for
every headline of the dev set (38 of 38 positions; a recall, a dividend cut and
halted deliveries included): its direction carries no information. Two sources
that do:

- a headline with a reported-vs-expected pair gets its direction from the sign
  of the surprise the calculator computed (`numeric_facts`): arithmetic is the
  calculator's, never generated;
- any other headline goes through a softmax regression on its MiniLM embedding,
  trained on labelled headlines (``eval/signals_train.jsonl``, never the dev
  set); the winning probability is the confidence. Below ``min_confidence`` the
  signal is ``flat``, with the reason.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from agentkit import Message, ModelResponse, SamplingSettings
from agentkit.answers import EmbedFn, default_embedder
from agentkit.events import FinishEvent, ModelEvent, TextDeltaEvent
from agentkit.messages import ToolSchema

__all__ = [
    "TRAIN_DATA",
    "DirectionCall",
    "DirectionClassifier",
    "SignalFastModel",
    "surprise_direction",
]

TRAIN_DATA = Path(__file__).parent / "eval" / "signals_train.jsonl"
"""The classifier's labelled headlines (60: 20 long, 20 short, 20 flat)."""

Direction = Literal["long", "short", "flat"]
_SURPRISE = re.compile(r"surprise vs expected = (-?\d+(?:\.\d+)?)%")


@dataclass(frozen=True)
class DirectionCall:
    """A direction, how sure, and why (the signal's rationale, at most 60 characters)."""

    direction: Direction
    confidence: float
    reason: str


def surprise_direction(facts: Sequence[str]) -> DirectionCall | None:
    """The direction the calculator's surprise gives (None: no surprise computed).

    Example:
        >>> surprise_direction(["surprise vs expected = -5% (reported 4.37, expected 4.60)"])
        DirectionCall(direction='short', confidence=0.95, reason='surprise -5% vs expected')
    """
    for fact in facts:
        match = _SURPRISE.search(fact)
        if match is None:
            continue
        value = float(match.group(1))
        if value == 0.0:
            return DirectionCall("flat", 0.9, "in line with expectations")
        direction: Direction = "long" if value > 0 else "short"
        return DirectionCall(direction, 0.95, f"surprise {match.group(1)}% vs expected")
    return None


class DirectionClassifier:
    """Softmax regression on MiniLM embeddings of labelled headlines.

    Trained at construction (full-batch gradient descent from zeros: deterministic,
    a few milliseconds for 60 rows). The winning class's probability is the
    confidence; a position (``long``/``short``) below ``min_confidence`` becomes
    ``flat`` with the reason. ``min_confidence`` = 0.7 is where released accuracy
    first reached 0.8 leaving each training headline out in turn (docs/answers.md).

    Args:
        texts: Training headlines.
        labels: Their directions.
        min_confidence: The probability a position needs.
        embed: Sentence embeddings (default: `agentkit.answers.default_embedder`).
        steps: Gradient steps.
        rate: Step size.

    Raises:
        ValueError: No training rows, or texts and labels of different lengths.
    """

    classes: tuple[Direction, ...] = ("long", "short", "flat")

    def __init__(
        self,
        texts: Sequence[str],
        labels: Sequence[Direction],
        *,
        min_confidence: float = 0.7,
        embed: EmbedFn | None = None,
        steps: int = 500,
        rate: float = 2.0,
    ) -> None:
        if not texts or len(texts) != len(labels):
            raise ValueError("need as many labels as training texts, and at least one")
        self.min_confidence = min_confidence
        self._embed = embed if embed is not None else default_embedder()
        self._weights: tuple[np.ndarray, np.ndarray] | None = None
        if self._embed is not None:
            x = np.asarray(self._embed(list(texts)), dtype=np.float64)  # (N, D)
            y = np.eye(len(self.classes))[[self.classes.index(label) for label in labels]]
            self._weights = _fit(x, y, steps, rate)

    @classmethod
    def from_file(cls, path: str | Path = TRAIN_DATA, **options: object) -> DirectionClassifier:
        """Train on a labelled JSONL file (``text`` and ``direction`` per line)."""
        from examples.trading_signals._evaluate import read_labelled

        rows = read_labelled(path)
        return cls([r.text for r in rows], [r.direction for r in rows], **options)  # type: ignore[arg-type]

    def probabilities(self, text: str) -> dict[Direction, float]:
        """Each direction's probability for ``text`` (empty: no embeddings here)."""
        if self._embed is None or self._weights is None:
            return {}
        x = np.asarray(self._embed([text]), dtype=np.float64)  # (1, D)
        p = _softmax(x @ self._weights[0] + self._weights[1])[0]  # (C,)
        return {label: float(p[i]) for i, label in enumerate(self.classes)}

    def call(self, text: str) -> DirectionCall:
        """The direction for ``text``: the most probable, or ``flat`` when unsure."""
        probs = self.probabilities(text)
        if not probs:
            return DirectionCall("flat", 0.0, "unclear: no classifier here")
        direction = max(probs, key=lambda d: probs[d])
        p = round(probs[direction], 2)
        if direction != "flat" and p < self.min_confidence:
            return DirectionCall("flat", p, f"unclear: {direction} at {p:.2f}")
        return DirectionCall(direction, p, f"like past {direction} news ({p:.2f})")


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    out: np.ndarray = e / e.sum(axis=1, keepdims=True)
    return out


def _fit(x: np.ndarray, y: np.ndarray, steps: int, rate: float) -> tuple[np.ndarray, np.ndarray]:
    """Weights ``(D, C)`` and bias ``(C,)`` of a softmax regression (cross-entropy, no penalty)."""
    w = np.zeros((x.shape[1], y.shape[1]))
    b = np.zeros(y.shape[1])
    for _ in range(steps):
        grad = (_softmax(x @ w + b) - y) / len(x)  # (N, C)
        w -= rate * (x.T @ grad)
        b -= rate * grad.sum(axis=0)
    return w, b


_LINE = re.compile(r"^(Instrument|Headline|Calculator): (.*)$", re.MULTILINE)


class SignalFastModel:
    """The fast tier of the signal agent: a `Signal` from the calculator's sign or the
    classifier, as the JSON the agent's ``output_type`` validates; no language model.

    Reads the turn's user message (``Instrument: ...``, ``Headline: ...``, optional
    ``Calculator: ...``, as `SignalAgent` writes it).

    Args:
        classifier: The headline classifier.
        name: The model name in results and traces.
    """

    def __init__(self, classifier: DirectionClassifier, *, name: str = "direction-classifier"):
        self.classifier = classifier
        self._name = name

    @property
    def name(self) -> str:
        """The name given."""
        return self._name

    def signal_json(self, messages: Sequence[Message]) -> str:
        """The signal for the latest user message, as JSON."""
        text = next((m.content or "" for m in reversed(messages) if m.role == "user"), "")
        fields = dict(_LINE.findall(text))
        facts = [fields["Calculator"]] if "Calculator" in fields else []
        call = surprise_direction(facts) or self.classifier.call(fields.get("Headline", text))
        return json.dumps(
            {
                "instrument": fields.get("Instrument", "")[:8],
                "direction": call.direction,
                "confidence": call.confidence,
                "rationale": call.reason[:60],
            }
        )

    async def complete(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSchema] = (),
        settings: SamplingSettings | None = None,
        deadline: float | None = None,
    ) -> ModelResponse:
        """The signal as one message."""
        return ModelResponse(message=Message.assistant(self.signal_json(messages)), model=self.name)

    async def stream(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSchema] = (),
        settings: SamplingSettings | None = None,
        deadline: float | None = None,
    ) -> AsyncIterator[ModelEvent]:
        """The signal as one text event."""
        yield TextDeltaEvent(text=self.signal_json(messages))
        yield FinishEvent(reason="stop")
