"""The distilled-draft file format: ``draft.safetensors`` + ``draft.json`` in one folder.

A distilled draft stores only what it does not share with its target: a few
decoder blocks (fp16), the final norm, and the kept-vocabulary id list. The
token embedding and the output head are the target's own, frozen: they are
taken from the target at load time, the head cut to the kept rows (gathered
in the target's storage format, so no re-quantisation), which makes a draft
step read ~5 MB of head instead of the full 28 MB.

``draft.json`` names the target it was trained for (vocabulary size and a
tokenizer fingerprint); loading it next to another target is refused with
`DraftMismatchError`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import pathlib
from dataclasses import dataclass
from typing import Any

import torch
from tokenizers import Tokenizer

from engine._config import ModelConfig
from engine._errors import ModelLoadError
from engine.kernels import QWeight
from engine.kernels._qweight import BLOCK, BLOCK_BYTES
from engine.loader._build import requantize_q8_0
from engine.model import LayerWeights, Transformer

__all__ = [
    "DRAFT_CONFIG",
    "DRAFT_WEIGHTS",
    "DraftMismatchError",
    "DraftModel",
    "DraftSpec",
    "build_draft",
    "default_draft_path",
    "draft_step_bytes",
    "read_draft",
    "tokenizer_fingerprint",
    "write_draft",
]

DRAFT_CONFIG = "draft.json"
DRAFT_WEIGHTS = "draft.safetensors"
_FORMAT = "agentkit-draft"
_VERSION = 1
_MATRICES = ("wqkv", "wo", "w_gate_up", "w_down")


class DraftMismatchError(ModelLoadError):
    """The draft does not fit the target: another vocabulary, tokenizer or geometry.

    Drafting with another tokenizer would propose token ids that mean different
    text to the target, so it is refused up front rather than silently useless.

    Attributes:
        field: what differs (``"vocab_size"``, ``"tokenizer"``, ``"dim"``...).
    """

    def __init__(self, message: str, *, field: str, path: str = "") -> None:
        super().__init__(message, path=path)
        self.field = field


def tokenizer_fingerprint(tokenizer: Tokenizer) -> str:
    """SHA-256 (first 16 hex digits) of the vocabulary, token strings in id order.

    Two tokenizers with the same fingerprint map every id to the same string,
    which is what sharing drafts between models needs (merges may differ in
    representation between GGUF and HF files without changing the mapping).
    """
    vocab = tokenizer.get_vocab(with_added_tokens=True)
    ordered = sorted(vocab.items(), key=lambda kv: kv[1])
    h = hashlib.sha256()
    for tok, idx in ordered:
        h.update(f"{idx}\x00{tok}\x01".encode())
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class DraftSpec:
    """The JSON half of a distilled draft.

    Attributes:
        n_layers, dim, n_heads, n_kv_heads, head_dim, hidden_dim: block geometry
            (dim and heads must equal the target's: embedding and RoPE are shared).
        norm_eps: RMSNorm epsilon.
        kept_vocab: rows of the cut head (K).
        target_vocab_size: the target's vocabulary size V.
        target_tokenizer: `tokenizer_fingerprint` of the target.
        target_name: a human label for the target (file name).
        init_layers: which target blocks the draft blocks were initialised from.
        training: free-form record of how it was trained (steps, data, date).
    """

    n_layers: int
    dim: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    hidden_dim: int
    norm_eps: float
    kept_vocab: int
    target_vocab_size: int
    target_tokenizer: str
    target_name: str = ""
    init_layers: tuple[int, ...] = ()
    training: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("n_layers", "dim", "n_heads", "n_kv_heads", "head_dim", "hidden_dim"):
            if int(getattr(self, name)) <= 0:
                raise ModelLoadError(f"draft config {name} must be > 0")
        if not 0 < self.kept_vocab <= self.target_vocab_size:
            raise ModelLoadError(
                f"draft kept_vocab {self.kept_vocab} not in 1..{self.target_vocab_size}"
            )

    def to_json(self) -> str:
        """Serialise with the format tag and version."""
        body = {"format": _FORMAT, "version": _VERSION, **dataclasses.asdict(self)}
        body["init_layers"] = list(self.init_layers)
        return json.dumps(body, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, path: str = "") -> DraftSpec:
        """Parse and validate ``draft.json``.

        Raises:
            ModelLoadError: not JSON, another format/version, or missing fields.
        """
        try:
            raw = json.loads(text)
            if raw.pop("format", None) != _FORMAT or raw.pop("version", None) != _VERSION:
                raise ValueError(f"not an {_FORMAT} v{_VERSION} config")
            raw["init_layers"] = tuple(raw.get("init_layers", ()))
            return cls(**raw)
        except ModelLoadError:
            raise
        except (ValueError, TypeError, AttributeError) as e:
            raise ModelLoadError(f"bad draft config {path}: {e}", path=path) from e


@dataclass(frozen=True)
class DraftModel:
    """A draft ready to run: a `Transformer` plus the map from its head rows to token ids.

    Attributes:
        model: the draft transformer; its head has ``K`` rows.
        kept_ids: (K,) int64 token id of each head row, or None when the head
            is the full vocabulary (a plain checkpoint).
        vocab_size: the full vocabulary size V (the target's).
        name: where it came from, for logs and statistics.
    """

    model: Transformer
    kept_ids: torch.Tensor | None
    vocab_size: int
    name: str


def default_draft_path() -> pathlib.Path:
    """Folder of the distilled draft shipped for the default SmolLM2-135M-Instruct."""
    return pathlib.Path(__file__).parent / "data"


def write_draft(
    folder: str | pathlib.Path,
    spec: DraftSpec,
    tensors: dict[str, torch.Tensor],
    kept_ids: torch.Tensor,
) -> None:
    """Save a draft: matrices as fp16, norms as fp32, kept ids as int32.

    Args:
        folder: created if missing.
        spec: the JSON config.
        tensors: ``blk.{i}.{attn_norm,wqkv,wo,ffn_norm,w_gate_up,w_down}`` and
            ``output_norm`` in the engine's fused layout.
        kept_ids: (K,) token ids of the head rows.
    """
    from safetensors.torch import save_file

    out = pathlib.Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    store: dict[str, torch.Tensor] = {}
    for name, t in tensors.items():
        is_matrix = name.rsplit(".", 1)[-1] in _MATRICES
        store[name] = t.detach().to(torch.float16 if is_matrix else torch.float32).contiguous()
    store["kept_ids"] = kept_ids.to(torch.int32).contiguous()
    save_file(store, str(out / DRAFT_WEIGHTS))
    (out / DRAFT_CONFIG).write_text(spec.to_json() + "\n")


def read_draft(folder: str | pathlib.Path) -> tuple[DraftSpec, dict[str, torch.Tensor]]:
    """Read a draft folder's config and tensors (fp32 / int64), checking shapes.

    Raises:
        ModelLoadError: missing, truncated or inconsistent files.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    root = pathlib.Path(folder)
    cfg_path, w_path = root / DRAFT_CONFIG, root / DRAFT_WEIGHTS
    try:
        spec = DraftSpec.from_json(cfg_path.read_text(), str(cfg_path))
        raw = load_file(str(w_path))
    except OSError as e:
        raise ModelLoadError(f"cannot read draft in {root}: {e}", path=str(root)) from e
    except SafetensorError as e:
        raise ModelLoadError(f"corrupt draft weights {w_path}: {e}", path=str(w_path)) from e
    tensors = {k: (v.long() if k == "kept_ids" else v.float()) for k, v in raw.items()}
    _check_shapes(spec, tensors, str(w_path))
    return spec, tensors


def _expected_shapes(spec: DraftSpec) -> dict[str, tuple[int, ...]]:
    d, f = spec.dim, spec.hidden_dim
    qkv = (spec.n_heads + 2 * spec.n_kv_heads) * spec.head_dim
    shapes: dict[str, tuple[int, ...]] = {"output_norm": (d,), "kept_ids": (spec.kept_vocab,)}
    for i in range(spec.n_layers):
        p = f"blk.{i}."
        shapes |= {
            p + "attn_norm": (d,),
            p + "wqkv": (qkv, d),
            p + "wo": (d, spec.n_heads * spec.head_dim),
            p + "ffn_norm": (d,),
            p + "w_gate_up": (2 * f, d),
            p + "w_down": (d, f),
        }
    return shapes


def _check_shapes(spec: DraftSpec, tensors: dict[str, torch.Tensor], path: str) -> None:
    for name, shape in _expected_shapes(spec).items():
        t = tensors.get(name)
        if t is None or tuple(t.shape) != shape:
            got = None if t is None else tuple(t.shape)
            raise ModelLoadError(f"draft tensor {name}: expected {shape}, got {got}", path=path)
        if not torch.isfinite(t.float()).all():
            raise ModelLoadError(f"draft tensor {name} holds non-finite values", path=path)
    ids = tensors["kept_ids"]
    if int(ids.min()) < 0 or int(ids.max()) >= spec.target_vocab_size:
        raise ModelLoadError("draft kept_ids out of the vocabulary range", path=path)
    if len(set(ids.tolist())) != ids.numel():
        raise ModelLoadError("draft kept_ids has duplicates", path=path)


def check_target(spec: DraftSpec, config: ModelConfig, fingerprint: str, path: str = "") -> None:
    """Refuse a target the draft was not trained for.

    Raises:
        DraftMismatchError: vocabulary, tokenizer or block geometry differ.
    """
    if spec.target_vocab_size != config.vocab_size:
        raise DraftMismatchError(
            f"draft was trained for a {spec.target_vocab_size}-token vocabulary, "
            f"the target has {config.vocab_size}",
            field="vocab_size",
            path=path,
        )
    if spec.target_tokenizer != fingerprint:
        raise DraftMismatchError(
            f"draft tokenizer fingerprint {spec.target_tokenizer} != target's {fingerprint}",
            field="tokenizer",
            path=path,
        )
    for name in ("dim", "n_heads", "n_kv_heads", "head_dim"):
        if getattr(spec, name) != getattr(config, name):
            raise DraftMismatchError(
                f"draft {name}={getattr(spec, name)} but target has {getattr(config, name)}",
                field=name,
                path=path,
            )


def build_draft(
    spec: DraftSpec,
    tensors: dict[str, torch.Tensor],
    target: Transformer,
    quantize: bool = True,
    name: str = "",
) -> DraftModel:
    """Assemble the draft `Transformer` around the target's shared embedding and cut head.

    Args:
        spec, tensors: from `read_draft` (or straight from training).
        target: the target model whose embedding and head are shared.
        quantize: store the blocks as q8_0 (fast kernels) instead of fp32.
        name: label for logs.
    """

    def mat(t: torch.Tensor) -> QWeight:
        w = QWeight.from_float(t.float())
        return requantize_q8_0(w) if quantize else w

    layers = [
        LayerWeights(
            attn_norm=tensors[f"blk.{i}.attn_norm"].float().contiguous(),
            wqkv=mat(tensors[f"blk.{i}.wqkv"]),
            bqkv=None,
            wo=mat(tensors[f"blk.{i}.wo"]),
            ffn_norm=tensors[f"blk.{i}.ffn_norm"].float().contiguous(),
            w_gate_up=mat(tensors[f"blk.{i}.w_gate_up"]),
            w_down=mat(tensors[f"blk.{i}.w_down"]),
        )
        for i in range(spec.n_layers)
    ]
    kept = tensors["kept_ids"].long()
    h = target.head
    head = QWeight(h.fmt, (kept.numel(), h.shape[1]), h.data[kept].contiguous())  # (K, D) rows
    cfg = dataclasses.replace(
        target.config, n_layers=spec.n_layers, hidden_dim=spec.hidden_dim, qkv_bias=False
    )
    model = Transformer(
        cfg, target.embed, layers, tensors["output_norm"].float().contiguous(), head,
        max_seq_len=target.cos.shape[0],
    )  # fmt: skip
    return DraftModel(model, kept, target.config.vocab_size, name)


def draft_step_bytes(tensors: dict[str, torch.Tensor], target: Transformer) -> int:
    """Weight bytes one step of ``build_draft(spec, tensors, target)`` reads, without building it.

    Equals `engine.speculative._payoff.step_bytes` of the built draft (tested):
    the blocks' matrices as q8_0 plus the kept rows of the target's head. So
    ``draft="auto"`` can judge the shipped draft before spending ~0.2 s
    quantizing and packing one it may leave out.
    """
    n_layers = sum(1 for name in tensors if name.endswith(".wqkv"))
    elements = sum(tensors[f"blk.{i}.{m}"].numel() for i in range(n_layers) for m in _MATRICES)
    head_row = target.head.data[0].numel() * target.head.data.element_size()
    return elements // BLOCK * BLOCK_BYTES["q8_0"] + tensors["kept_ids"].numel() * head_row
