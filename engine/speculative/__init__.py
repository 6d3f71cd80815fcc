"""Speculative decoding: drafters, per-request speculation state, adaptive draft length.

Verification is a rung of the decoding ladder, not a separate path: see
`engine._sequence.verify` and `engine._step.step`.
"""

from engine.speculative._adaptive import GammaController
from engine.speculative._ngram import NgramDrafter

__all__ = ["GammaController", "NgramDrafter"]
