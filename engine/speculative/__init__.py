"""Speculative decoding: drafters, lossless verification, adaptive draft length."""

from engine.speculative._adaptive import GammaController
from engine.speculative._ngram import NgramDrafter
from engine.speculative._verify import Verdict, verify_greedy, verify_sampled

__all__ = ["GammaController", "NgramDrafter", "Verdict", "verify_greedy", "verify_sampled"]
