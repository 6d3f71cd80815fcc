"""A tiny random engine for scheduler tests, and plain decoding as the oracle."""

from __future__ import annotations

import pathlib
import random

import anyio
from tokenizers import Tokenizer, models

from engine import Engine, SamplingParams
from engine._sequence import Sequence
from engine._step import Decode, Prefill, step
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


def tiny_model(folder: pathlib.Path) -> Transformer:
    """The random 2-layer Llama of the reference tests, on the engine's kernels."""
    path = save_hf(make_hf_model(eos_token_id=None), folder)
    hf = HFFolder(path)
    return build_transformer(hf.config, hf.get, MAX_LEN)


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
