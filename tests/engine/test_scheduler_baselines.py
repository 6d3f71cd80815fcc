"""The static-batching baseline is exact and counts its padding; drafter settings are checked."""

from __future__ import annotations

import pathlib

import pytest

from engine import EngineError, SamplingParams
from engine._errors import ModelLoadError
from engine.bench._static import run_static_batch
from engine.model import Transformer
from engine.scheduler._buckets import OutputLengths, RowMeter, bucket
from engine.speculative._factory import DrafterFactory, SpeculationSettings
from engine.speculative._ngram import NgramDrafter
from tests.engine._reference_models import make_hf_model, save_hf
from tests.engine._sched_helpers import alone, prompts, tiny_engine, tiny_model

pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Transformer:
    return tiny_model(tmp_path_factory.mktemp("m") / "m")


def test_static_batch_equals_alone_and_counts_pad_rows(tiny: Transformer) -> None:
    engine = tiny_engine(tiny, slots=3)
    ps = prompts(3, seed=4, lengths=(5, 30))
    params = [SamplingParams(max_tokens=n) for n in (3, 9, 5)]
    meter = RowMeter()
    out = run_static_batch(engine, ps, params, meter, chunk=8)
    assert out.outputs == [alone(tiny, p, sp)[0] for p, sp in zip(ps, params, strict=True)]
    longest = max(len(p) for p in ps)
    prefill_pad = sum(longest - len(p) for p in ps)
    # 8 decode steps (the longest output's first token comes from the prefill), 3 rows each
    decode_pad = (9 - 3) + (9 - 5)
    assert meter.rows == 3 * longest + 3 * 8
    assert meter.wasted == prefill_pad + decode_pad
    assert engine.cache.free_slots == 3


def test_speculation_settings_and_factory(tiny: Transformer, tmp_path: pathlib.Path) -> None:
    engine = tiny_engine(tiny, slots=2)
    with pytest.raises(EngineError):
        SpeculationSettings(gamma=0)
    off = DrafterFactory(engine.loaded, SpeculationSettings(enabled=False), 2)
    assert off.mode == "off" and off.new_state() is None
    ngram = DrafterFactory(engine.loaded, SpeculationSettings(draft="ngram"), 2)
    state = ngram.new_state()
    assert state is not None and isinstance(state.drafters[0], NgramDrafter)
    # "auto" for a model the shipped draft was not made for: n-gram lookup only
    assert DrafterFactory(engine.loaded, SpeculationSettings(), 2).mode == "ngram"
    with pytest.raises(ModelLoadError):  # a missing draft path is a typed error
        DrafterFactory(engine.loaded, SpeculationSettings(draft=str(tmp_path / "nope")), 2)
    other = save_hf(make_hf_model(vocab_size=320), tmp_path / "other")
    with pytest.raises(ModelLoadError):  # another vocabulary (or no tokenizer): refused
        DrafterFactory(engine.loaded, SpeculationSettings(draft=str(other)), 2)


def test_buckets_and_expected_lengths() -> None:
    assert [bucket(n) for n in (1, 16, 17, 32, 33, 64, 65)] == [0, 0, 1, 1, 2, 2, 3]
    lengths = OutputLengths(alpha=0.5)
    assert lengths.expected(256) == 256  # nothing observed: the bound
    lengths.observe(256, 20)
    lengths.observe(250, 40)  # same bucket (129-256)
    assert lengths.expected(256) == 30 and lengths.expected(16) == 16
