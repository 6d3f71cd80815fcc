"""DraftModelDrafter and the distilled-draft format, on tiny random targets."""

from __future__ import annotations

import dataclasses
import pathlib

import pytest
import torch

from engine._errors import ModelLoadError
from engine.distill._mirror import MirrorLlama
from engine.kv_cache import KVCache
from engine.loader import LoadedModel, load_model
from engine.speculative._draft_io import (
    DRAFT_CONFIG,
    DRAFT_WEIGHTS,
    DraftMismatchError,
    DraftModel,
    DraftSpec,
    read_draft,
    tokenizer_fingerprint,
    write_draft,
)
from engine.speculative._draft_model import DraftModelDrafter, load_draft
from tests.engine._draft_helpers import make_target, one_thread  # noqa: F401 (autouse)

PROMPT = [5, 17, 200, 3, 99, 42, 7, 7, 150, 120]


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> LoadedModel:
    return load_model(make_target(tmp_path_factory.mktemp("target")), max_seq_len=256)


def _spec(lm: LoadedModel, n_layers: int, kept: int, **over: object) -> DraftSpec:
    c = lm.config
    spec = DraftSpec(
        n_layers=n_layers, dim=c.dim, n_heads=c.n_heads, n_kv_heads=c.n_kv_heads,
        head_dim=c.head_dim, hidden_dim=c.hidden_dim, norm_eps=c.norm_eps, kept_vocab=kept,
        target_vocab_size=c.vocab_size, target_tokenizer=tokenizer_fingerprint(lm.tokenizer),
    )  # fmt: skip
    return dataclasses.replace(spec, **over)  # type: ignore[arg-type]


def make_draft_folder(
    lm: LoadedModel, folder: pathlib.Path, kept_n: int = 128, **over: object
) -> torch.Tensor:
    """An untrained distilled draft (target block 1, cut head); returns the kept ids."""
    kept = torch.randperm(lm.config.vocab_size, generator=torch.Generator().manual_seed(1))[:kept_n]
    mirror = MirrorLlama.from_transformer(lm.model, [1], kept, max_len=256)
    write_draft(folder, _spec(lm, 1, kept_n, **over), mirror.export_tensors(), kept)
    return kept


@pytest.fixture(scope="module")
def draft(target: LoadedModel, tmp_path_factory: pytest.TempPathFactory) -> DraftModel:
    folder = tmp_path_factory.mktemp("draft")
    make_draft_folder(target, folder)
    return load_draft(folder, target)


def _reference_greedy(d: DraftModel, prompt: list[int], k: int) -> list[int]:
    """Plain greedy decoding of the draft model, one token per forward after the prompt."""
    m, cfg = d.model, d.model.config
    cache = KVCache(cfg.n_layers, 1, cfg.n_kv_heads, 256, cfg.head_dim)
    toks = list(prompt)
    logits = m.forward(
        torch.tensor(toks), torch.zeros(len(toks), dtype=torch.long), torch.arange(len(toks)), cache
    )[-1]
    out = []
    for _ in range(k):
        row = int(logits.argmax())
        tok = row if d.kept_ids is None else int(d.kept_ids[row])
        out.append(tok)
        pos = torch.tensor([len(toks)])
        toks.append(tok)
        logits = m.forward(torch.tensor([tok]), torch.zeros(1, dtype=torch.long), pos, cache)[0]
    return out


def test_proposals_equal_reference_greedy_decode(draft: DraftModel) -> None:
    drafter = DraftModelDrafter(draft, confidence=0.0)
    drafter.extend(PROMPT)
    assert drafter.propose(8) == _reference_greedy(draft, PROMPT, 8)


def test_long_prompt_prefill_matches_forward(target: LoadedModel, tmp_path: pathlib.Path) -> None:
    # f32 blocks: the q8_0 row kernels quantise activations, which the dense prefill does not
    make_draft_folder(target, tmp_path)
    d = load_draft(tmp_path, target, quantize=False)
    long_prompt = [(i * 37) % 250 for i in range(60)]  # >= the prefill threshold
    a, b = DraftModelDrafter(d, confidence=0.0), DraftModelDrafter(d, confidence=0.0)
    a.extend(long_prompt)
    for t in long_prompt:  # single-token feeds take the row-kernel path
        b.extend([t])
    torch.testing.assert_close(a._logits, b._logits, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("accepted", [0, 2, 5])
def test_rollback_then_extend_equals_fresh_drafter(draft: DraftModel, accepted: int) -> None:
    live = DraftModelDrafter(draft, confidence=0.0)
    live.extend(PROMPT)
    proposal = live.propose(5)
    bonus = (proposal[accepted] + 1) % 250 if accepted < 5 else 11  # a token the draft did not pick
    confirmed = [*proposal[:accepted], bonus]
    live.extend(confirmed)
    fresh = DraftModelDrafter(draft, confidence=0.0)
    fresh.extend(PROMPT + confirmed)
    assert live.n_tokens == fresh.n_tokens == len(PROMPT) + len(confirmed)
    assert live.propose(6) == fresh.propose(6)
    assert live.propose(6) == _reference_greedy(draft, PROMPT + confirmed, 6)


def test_explicit_rollback(draft: DraftModel) -> None:
    live = DraftModelDrafter(draft, confidence=0.0)
    live.extend([*PROMPT, 1, 2, 3, 4])
    live.rollback(len(PROMPT))
    assert live.propose(3) == []  # the logits after the prefix are gone until the next extend
    live.extend([9])
    assert live.propose(4) == _reference_greedy(draft, [*PROMPT, 9], 4)
    with pytest.raises(ValueError):
        live.rollback(len(PROMPT) + 5)


def test_cut_vocab_maps_rows_to_token_ids(draft: DraftModel, target: LoadedModel) -> None:
    assert draft.kept_ids is not None
    kept = draft.kept_ids
    # the cut head is the target's own rows, in the target's storage format
    torch.testing.assert_close(draft.model.head.dequantize(), target.model.head.dequantize()[kept])
    assert draft.model.embed is target.model.embed
    drafter = DraftModelDrafter(draft, confidence=0.0)
    drafter.extend(PROMPT)
    toks = drafter.propose(6)
    assert len(toks) == 6 and all(t in set(kept.tolist()) for t in toks)


def test_confidence_threshold_truncates_the_greedy_proposal(draft: DraftModel) -> None:
    full = DraftModelDrafter(draft, confidence=0.0)
    full.extend(PROMPT)
    ref = full.propose(8)
    for threshold in (0.05, 0.2, 0.6, 0.95):
        d = DraftModelDrafter(draft, confidence=threshold)
        d.extend(PROMPT)
        got = d.propose(8)
        assert got == ref[: len(got)]


def test_mismatched_tokenizer_or_vocab_is_refused(
    target: LoadedModel, tmp_path: pathlib.Path
) -> None:
    make_draft_folder(target, tmp_path / "tok", target_tokenizer="0123456789abcdef")
    with pytest.raises(DraftMismatchError) as e:
        load_draft(tmp_path / "tok", target)
    assert e.value.field == "tokenizer"
    make_draft_folder(target, tmp_path / "voc", target_vocab_size=target.config.vocab_size + 1)
    with pytest.raises(DraftMismatchError) as e:
        load_draft(tmp_path / "voc", target)
    assert e.value.field == "vocab_size"
    # plain checkpoints: another tokenizer of the same size, or another vocabulary size
    with pytest.raises(DraftMismatchError) as e:
        load_draft(make_target(tmp_path / "swap", swap_tokens=True), target)
    assert e.value.field == "tokenizer"
    with pytest.raises(DraftMismatchError) as e:
        load_draft(make_target(tmp_path / "big", extra=32), target)
    assert e.value.field == "vocab_size"


def test_plain_checkpoint_with_the_same_tokenizer_drafts(
    target: LoadedModel, tmp_path: pathlib.Path
) -> None:
    d = load_draft(make_target(tmp_path / "same", seed=3, n_layers=1), target)
    assert d.kept_ids is None
    drafter = DraftModelDrafter(d, confidence=0.0)
    assert drafter.kind == "draft"
    drafter.extend(PROMPT)
    assert drafter.propose(5) == _reference_greedy(d, PROMPT, 5)


def test_corrupt_draft_files_raise_model_load_error(
    target: LoadedModel, tmp_path: pathlib.Path
) -> None:
    folder = tmp_path / "d"
    make_draft_folder(target, folder)
    data = (folder / DRAFT_WEIGHTS).read_bytes()
    (folder / DRAFT_WEIGHTS).write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelLoadError, match="corrupt"):
        load_draft(folder, target)
    make_draft_folder(target, folder)
    (folder / DRAFT_CONFIG).write_text("{not json")
    with pytest.raises(ModelLoadError, match="bad draft config"):
        load_draft(folder, target)
    make_draft_folder(target, folder)
    spec, _ = read_draft(folder)
    (folder / DRAFT_CONFIG).write_text(dataclasses.replace(spec, hidden_dim=128).to_json())
    with pytest.raises(ModelLoadError, match="expected"):
        load_draft(folder, target)
    with pytest.raises(ModelLoadError):
        load_draft(tmp_path / "missing", target)


def test_bad_arguments_are_refused(draft: DraftModel) -> None:
    with pytest.raises(ValueError):
        DraftModelDrafter(draft, confidence=1.5)
    d = DraftModelDrafter(draft, max_draft=4)
    d.extend(PROMPT)
    with pytest.raises(ValueError):
        d.propose(5)


def test_shared_cache_slots_are_independent_and_freed(draft: DraftModel) -> None:
    cfg = draft.model.config
    cache = KVCache(cfg.n_layers, 2, cfg.n_kv_heads, 256, cfg.head_dim)
    a = DraftModelDrafter(draft, confidence=0.0, cache=cache)
    b = DraftModelDrafter(draft, confidence=0.0, cache=cache)
    a.extend(PROMPT)
    b.extend([3, 1, 4, 1, 5, 9, 2, 6])
    assert a.propose(5) == _reference_greedy(draft, PROMPT, 5)
    assert b.propose(5) == _reference_greedy(draft, [3, 1, 4, 1, 5, 9, 2, 6], 5)
    a.close()
    b.close()
    assert cache.free_slots == 2


def test_shipped_draft_loads_for_the_default_model_only(
    default_engine: object, target: LoadedModel
) -> None:
    lm = default_engine.loaded  # type: ignore[attr-defined]
    d = load_draft("default", lm)
    assert d.kept_ids is not None and d.model.embed is lm.model.embed
    drafter = DraftModelDrafter(d, confidence=0.0)
    ids = lm.tokenizer.encode("<|im_start|>user\nHow do I freeze my card?<|im_end|>\n").ids
    drafter.extend(ids)
    assert len(drafter.propose(4)) == 4
    with pytest.raises(DraftMismatchError):
        load_draft("default", target)
