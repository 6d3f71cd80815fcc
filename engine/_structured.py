"""JSON-schema-constrained decoding with llguidance: a token mask per step."""

from __future__ import annotations

import json
from typing import Any

import torch
from tokenizers import Tokenizer

from engine._errors import InvalidSamplingError

__all__ = ["JsonConstraint", "make_ll_tokenizer"]


def make_ll_tokenizer(tokenizer: Tokenizer, vocab_size: int, eos_ids: tuple[int, ...]) -> Any:
    """Wrap our ``tokenizers`` tokenizer for llguidance (costly: build once per engine)."""
    import llguidance

    return llguidance.LLTokenizer(
        tokenizer.to_str(), n_vocab=vocab_size, eos_token=list(eos_ids) or None
    )


class JsonConstraint:
    """Masks logits so that the generated text is JSON valid against ``schema``.

    Args:
        ll_tokenizer: from `make_ll_tokenizer`.
        schema: a JSON schema.

    Raises:
        InvalidSamplingError: llguidance cannot compile the schema.
    """

    def __init__(self, ll_tokenizer: Any, schema: dict[str, Any]) -> None:
        """Compile the schema into a matcher."""
        import llguidance

        try:
            grammar = llguidance.LLMatcher.grammar_from_json_schema(
                json.dumps(schema), defaults={"whitespace_flexible": False}
            )
        except Exception as e:  # llguidance raises ValueError on bad schemas
            raise InvalidSamplingError(f"json_schema is invalid: {e}", field="json_schema") from e
        self._matcher = llguidance.LLMatcher(ll_tokenizer, grammar, log_level=0)
        if self._matcher.is_error():
            raise InvalidSamplingError(
                f"json_schema is invalid: {self._matcher.get_error()}", field="json_schema"
            )

    def mask(self, logits: torch.Tensor) -> torch.Tensor:
        """Logits (V,) with every token the grammar forbids set to -inf."""
        import numpy as np

        bits = np.frombuffer(self._matcher.compute_bitmask(), dtype=np.uint8)
        allowed = np.unpackbits(bits, bitorder="little")[: logits.shape[-1]].astype(bool)
        return logits.masked_fill(~torch.from_numpy(allowed), float("-inf"))

    def accept(self, token: int) -> None:
        """Advance the grammar by the chosen token."""
        self._matcher.consume_token(token)

    @property
    def finished(self) -> bool:
        """The grammar is complete (only EOS would be allowed)."""
        return bool(self._matcher.is_stopped())
