"""Tiny random targets (HF folders with a byte-level tokenizer) for draft and distillation tests."""

from __future__ import annotations

import json
import pathlib
from collections.abc import Iterator

import pytest
import torch
from safetensors.torch import save_file
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    """Tiny models: thread hand-offs cost more than the work (and the CI cores are shared)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
DIM, HEADS, KV_HEADS, HIDDEN = 64, 4, 2, 96


def byte_tokenizer(swap: bool = False) -> Tokenizer:
    """256 byte tokens + ChatML specials (259 ids); ``swap`` exchanges two byte ids."""
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    if swap:
        alphabet[65], alphabet[66] = alphabet[66], alphabet[65]
    tok = Tokenizer(models.BPE(vocab={c: i for i, c in enumerate(alphabet)}, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in SPECIALS])
    return tok


def make_target(
    path: pathlib.Path, seed: int = 0, n_layers: int = 2, swap_tokens: bool = False, extra: int = 0
) -> pathlib.Path:
    """Write a random Llama HF folder (tied embeddings) at ``path``; returns it.

    Args:
        path: folder to create.
        seed: weight seed.
        n_layers: decoder blocks.
        swap_tokens: use a tokenizer with two byte ids exchanged (same size).
        extra: extra vocabulary rows beyond the tokenizer (another vocab size).
    """
    path.mkdir(parents=True, exist_ok=True)
    tok = byte_tokenizer(swap_tokens)
    vocab = tok.get_vocab_size() + extra
    g = torch.Generator().manual_seed(seed)

    def rnd(*shape: int, scale: float = 0.15) -> torch.Tensor:
        return torch.randn(*shape, generator=g) * scale

    dh = DIM // HEADS
    w = {"model.embed_tokens.weight": rnd(vocab, DIM, scale=1.0), "model.norm.weight": 1 + rnd(DIM)}
    for i in range(n_layers):
        p = f"model.layers.{i}."
        w |= {
            p + "input_layernorm.weight": 1 + rnd(DIM),
            p + "self_attn.q_proj.weight": rnd(HEADS * dh, DIM),
            p + "self_attn.k_proj.weight": rnd(KV_HEADS * dh, DIM),
            p + "self_attn.v_proj.weight": rnd(KV_HEADS * dh, DIM),
            p + "self_attn.o_proj.weight": rnd(DIM, HEADS * dh),
            p + "post_attention_layernorm.weight": 1 + rnd(DIM),
            p + "mlp.gate_proj.weight": rnd(HIDDEN, DIM),
            p + "mlp.up_proj.weight": rnd(HIDDEN, DIM),
            p + "mlp.down_proj.weight": rnd(DIM, HIDDEN),
        }
    save_file({k: v.contiguous() for k, v in w.items()}, str(path / "model.safetensors"))
    config = {
        "model_type": "llama", "vocab_size": vocab, "hidden_size": DIM,
        "intermediate_size": HIDDEN, "num_hidden_layers": n_layers,
        "num_attention_heads": HEADS, "num_key_value_heads": KV_HEADS,
        "max_position_embeddings": 512, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
        "tie_word_embeddings": True, "eos_token_id": tok.token_to_id("<|im_end|>"),
    }  # fmt: skip
    (path / "config.json").write_text(json.dumps(config))
    (path / "tokenizer.json").write_text(tok.to_str())
    return path


def write_prompts(path: pathlib.Path, n: int = 6, heldout_every: int = 3) -> pathlib.Path:
    """A small JSONL prompt set with two categories and some held-out rows."""
    lines = []
    for i in range(n):
        cat = "customer_service" if i % 2 else "chat"
        row = {
            "category": cat,
            "prompt": f"question {i}: where is my card?",
            "heldout": i % heldout_every == 0,
        }
        lines.append(json.dumps(row))
    path.write_text("\n".join(lines) + "\n")
    return path
