"""Build a ``tokenizers.Tokenizer`` from GGUF tokenizer metadata (byte-level BPE)."""

from __future__ import annotations

from collections.abc import Sequence

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers

from engine._errors import UnsupportedModelError

__all__ = ["tokenizer_from_gguf"]

_LLAMA3 = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
    r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_QWEN2 = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|"
    r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_CONTROL, _USER_DEFINED = 3, 4  # llama.cpp token types


def _pre_tokenizer(pre: str) -> pre_tokenizers.PreTokenizer:
    """The pre-tokenizer llama.cpp's ``tokenizer.ggml.pre`` name stands for."""
    if pre in ("smollm", "starcoder", "refact", "codeshell"):
        return pre_tokenizers.Sequence(
            [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(False)]
        )
    if pre in ("llama-bpe", "llama3", "smaug-bpe", "qwen2"):
        pat = _QWEN2 if pre == "qwen2" else _LLAMA3
        return pre_tokenizers.Sequence(
            [
                pre_tokenizers.Split(Regex(pat), behavior="isolated", invert=False),
                pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
            ]
        )
    return pre_tokenizers.ByteLevel(add_prefix_space=False)


def tokenizer_from_gguf(
    model: str,
    pre: str,
    tokens: Sequence[str],
    merges: Sequence[str],
    token_types: Sequence[int],
) -> Tokenizer:
    """Rebuild the HF fast tokenizer of a byte-level BPE GGUF.

    Args:
        model: ``tokenizer.ggml.model``; only ``"gpt2"`` (byte-level BPE) is supported.
        pre: ``tokenizer.ggml.pre``, naming the pre-tokenizer regex.
        tokens, merges, token_types: the ``tokenizer.ggml.*`` arrays.

    Raises:
        UnsupportedModelError: a SentencePiece (``llama``) or other tokenizer model.
    """
    if model != "gpt2":
        raise UnsupportedModelError(f"GGUF tokenizer model {model!r} is not supported (gpt2 only)")
    vocab = {t: i for i, t in enumerate(tokens)}
    pairs = [tuple(m.split(" ", 1)) for m in merges]
    bpe = models.BPE(
        vocab=vocab,
        merges=pairs,  # type: ignore[arg-type]
        fuse_unk=False,
        ignore_merges=pre in ("llama-bpe", "llama3", "smaug-bpe"),
    )
    tok = Tokenizer(bpe)
    tok.pre_tokenizer = _pre_tokenizer(pre)
    tok.decoder = decoders.ByteLevel()
    special = [
        AddedToken(tokens[i], special=tt == _CONTROL, normalized=False)
        for i, tt in enumerate(token_types)
        if tt in (_CONTROL, _USER_DEFINED)
    ]
    tok.add_special_tokens(special)
    return tok
