"""One step of the decoding ladder, as the scheduler hands it to `Engine.execute`.

A `Sequence` is one request's state (its tokens, sampling, stop matching and
optional JSON constraint); a step feeds some sequences a `Prefill` chunk of
their prompt and the others a `Decode` (their last token plus k drafted ones).
The scheduler builds these; most users call `Engine.generate` instead.
"""

from engine._sequence import Sequence
from engine._step import Decode, Prefill
from engine._structured import JsonConstraint
from engine._text import IncrementalDetokenizer, StopMatcher

__all__ = [
    "Decode",
    "IncrementalDetokenizer",
    "JsonConstraint",
    "Prefill",
    "Sequence",
    "StopMatcher",
]
