"""A tiny random engine for scheduler tests, and plain decoding as the oracle.

`MODEL_VARIANTS` and `tiny_variant` run the engine's exactness tests on every
kernel path this CPU has: the fp32 model (the kernels' float path) and the
same model quantized as the default model is (q4_1 matrices, q8_0 embeddings
and head), whose products go through the int8 kernels each path builds.
"""

from __future__ import annotations

import pathlib
import random
from collections.abc import Iterator

import anyio
import numpy as np
import pytest
import torch
from tokenizers import Tokenizer, models

from engine import Engine, SamplingParams, kernels
from engine._sequence import Sequence
from engine._step import Decode, Prefill, step
from engine.kernels import QWeight
from engine.kv_cache import KVCache
from engine.loader import LoadedModel
from engine.loader._build import build_transformer
from engine.loader._hf import HFFolder
from engine.model import Transformer
from engine.scheduler import Scheduler, SchedulerConfig
from engine.speculative._factory import DrafterFactory, SpeculationSettings
from tests.engine._reference_models import make_hf_model, save_hf

VOCAB = 288
MAX_LEN = 192


# (weights, kernel path): fp32 on the default path, then quantized on every path.
MODEL_VARIANTS = [("f32", ""), *(("q4_1", p) for p in kernels.available_paths())]


def _quantize(name: str, w: QWeight | None, fmt: str) -> QWeight | None:
    """``w`` as the default model stores it: q8_0 embeddings and head, ``fmt`` matrices."""
    import gguf

    if w is None or fmt == "f32" or len(w.shape) != 2 or "norm" in name:
        return w
    qfmt = "q8_0" if name.startswith(("token_embd", "output")) else fmt
    qtype = gguf.GGMLQuantizationType.Q8_0 if qfmt == "q8_0" else gguf.GGMLQuantizationType.Q4_1
    blocks = gguf.quantize(w.dequantize().numpy(), qtype).view(np.uint8)
    return QWeight.from_blocks(qfmt, torch.from_numpy(np.ascontiguousarray(blocks)), w.shape)  # type: ignore[arg-type]


def tiny_model(folder: pathlib.Path, fmt: str = "f32", max_len: int = MAX_LEN) -> Transformer:
    """The random 2-layer Llama of the reference tests, on the engine's kernels.

    ``fmt="q4_1"`` quantizes it as the default model is (int8 kernels).
    """
    path = save_hf(make_hf_model(eos_token_id=None), folder)
    hf = HFFolder(path)
    return build_transformer(hf.config, lambda n: _quantize(n, hf.get(n), fmt), max_len)


def variant_id(variant: tuple[str, str]) -> str:
    """Test id of a `MODEL_VARIANTS` entry: ``f32`` or ``q4_1-avx2``..."""
    return "-".join(p for p in variant if p)


def tiny_variant(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, max_len: int = MAX_LEN
) -> Iterator[Transformer]:
    """Body of a module fixture parametrized by `MODEL_VARIANTS`: the model, on its path."""
    fmt, path = request.param
    model = tiny_model(tmp_path_factory.mktemp("m") / "m", fmt, max_len)
    kernels.set_kernel_path(path or None)
    try:
        if path and kernels.kernel_path() != path:
            pytest.skip(f"kernel path {path} did not build")
        yield model
    finally:
        kernels.set_kernel_path(None)


def tokenizer() -> Tokenizer:
    """A word-level tokenizer: token i is the text ``"t{i} "``."""
    return Tokenizer(models.WordLevel({f"t{i} ": i for i in range(VOCAB)}, unk_token="t0 "))


def tiny_engine(model: Transformer, slots: int) -> Engine:
    """An `Engine` over ``model`` with ``slots`` KV slots of ``MAX_LEN`` positions."""
    cfg = model.config
    loaded = LoadedModel(model, tokenizer(), None, cfg, False, "tiny")  # type: ignore[arg-type]
    cache = KVCache(cfg.n_layers, slots, cfg.n_kv_heads, MAX_LEN, cfg.head_dim)
    return Engine(loaded, cache, 1)


def scheduler(engine: Engine, speculation: bool = False, **config: object) -> Scheduler:
    """A scheduler over ``engine`` (n-gram speculation when asked)."""
    settings = SpeculationSettings(enabled=speculation, draft="ngram")
    drafters = DrafterFactory(engine.loaded, settings, engine.cache.n_slots)
    return Scheduler(engine, SchedulerConfig(**config), drafters)  # type: ignore[arg-type]


def alone(
    model: Transformer, prompt: list[int], params: SamplingParams
) -> tuple[list[int], list[float]]:
    """Plain decoding of one request on its own cache: the oracle (tokens, logprobs)."""
    cfg = model.config
    cache = KVCache(cfg.n_layers, 1, cfg.n_kv_heads, MAX_LEN, cfg.head_dim)
    seq = Sequence.start(0, prompt, params, tokenizer(), eos_ids=())
    step(model, cache, [Prefill(seq, 0, len(prompt))], [], MAX_LEN)  # the whole prompt at once
    while seq.finish_reason is None:
        step(model, cache, [], [Decode(seq, [])], MAX_LEN)  # one token a step, no draft
    return seq.output, seq.logprobs


def prompts(n: int, seed: int, lengths: tuple[int, int] = (4, 40)) -> list[list[int]]:
    """Prompts with repeated motifs (so n-gram lookup drafts) of varied lengths."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        motif = [rng.randrange(VOCAB) for _ in range(rng.randrange(3, 7))]
        body = (motif * 20)[: rng.randrange(*lengths)]
        out.append(body + [rng.randrange(VOCAB) for _ in range(rng.randrange(1, 4))])
    return out


async def collect(stream: object) -> list[object]:
    """Every event of a request stream."""
    return [ev async for ev in stream]  # type: ignore[attr-defined]


async def wait_until(cond: object, timeout: float = 20.0) -> None:
    """Poll ``cond()`` until true (the driver runs in its own thread)."""
    with anyio.fail_after(timeout):
        while not cond():  # type: ignore[operator]
            await anyio.sleep(0.002)
