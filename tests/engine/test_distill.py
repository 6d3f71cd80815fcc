"""Distillation on a tiny random target: data, training, resume, export, report."""

from __future__ import annotations

import json
import pathlib

import pytest
import torch

from engine.distill._data import Sample, generate_samples, load_shards
from engine.distill._mirror import MirrorLlama
from engine.distill._pipeline import DistillConfig, choose_vocab, distill
from engine.distill._train import acceptance, train
from engine.kv_cache import KVCache
from engine.loader import LoadedModel, load_model
from engine.speculative._draft_model import DraftModelDrafter, load_draft
from tests.engine._draft_helpers import (  # one_thread: autouse fixture
    make_target,
    one_thread,  # noqa: F401
    write_prompts,
)

PROMPTS = [[5, 17, 200, 3, 99], [42, 7, 7, 150, 120, 64, 1], [5, 17, 200, 3, 42, 7], [9, 8, 7]]


@pytest.fixture(scope="module")
def target_dir(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    return make_target(tmp_path_factory.mktemp("target"))


@pytest.fixture(scope="module")
def target(target_dir: pathlib.Path) -> LoadedModel:
    return load_model(target_dir, max_seq_len=256)


def _engine_greedy(lm: LoadedModel, prompt: list[int], n: int) -> tuple[list[int], torch.Tensor]:
    """Greedy decode with the engine's own Transformer; returns tokens and their logits (n, V)."""
    m, cfg = lm.model, lm.config
    cache = KVCache(cfg.n_layers, 1, cfg.n_kv_heads, 256, cfg.head_dim)
    toks = list(prompt)
    rows = []
    logits = m.forward(
        torch.tensor(toks), torch.zeros(len(toks), dtype=torch.long), torch.arange(len(toks)), cache
    )[-1]
    for _ in range(n):
        rows.append(logits)
        toks.append(int(logits.argmax()))
        logits = m.forward(
            torch.tensor(toks[-1:]),
            torch.zeros(1, dtype=torch.long),
            torch.tensor([len(toks) - 1]),
            cache,
        )[0]
    return toks[len(prompt) :], torch.stack(rows)


def test_batched_generation_equals_engine_greedy_decode(target: LoadedModel) -> None:
    mirror = MirrorLlama.from_transformer(target.model, range(target.config.n_layers), max_len=64)
    jobs = [(p, False) for p in PROMPTS]
    got = dict(
        generate_samples(
            mirror, jobs, stop_ids=set(), max_new=12, batch=2, temperature=1.0, top_k=8, seed=0
        )
    )
    assert sorted(got) == list(range(len(PROMPTS)))
    for k, prompt in enumerate(PROMPTS):
        toks, logits = _engine_greedy(target, prompt, 12)
        s = got[k]
        assert s.tokens[s.n_prompt :] == toks
        assert s.top_ids.shape == (12, 8)
        # recorded distributions are the target's log-softmax (top-k, fp16)
        ref = torch.log_softmax(logits, -1).gather(1, s.top_ids.long())
        torch.testing.assert_close(s.top_logp.float(), ref, atol=2e-2, rtol=1e-2)
        assert (s.top_ids[:, 0].long() == logits.argmax(-1)).all()


def _samples(target: LoadedModel, max_new: int, top_k: int) -> list[Sample]:
    """Seeded samples of the target's first two blocks on `PROMPTS`."""
    mirror = MirrorLlama.from_transformer(target.model, range(2), max_len=64)
    prompts = [(p, False) for p in PROMPTS]
    return [
        s
        for _, s in generate_samples(
            mirror, prompts, stop_ids=set(), max_new=max_new, batch=3, temperature=1.0,
            top_k=top_k, seed=0,
        )
    ]  # fmt: skip


def test_choose_vocab_keeps_frequent_and_stop_tokens(target: LoadedModel) -> None:
    samples = _samples(target, max_new=10, top_k=4)
    kept = choose_vocab(samples, 40, target.config.vocab_size, {258})
    assert kept.numel() == 40 and kept.unique().numel() == 40
    assert int(kept[0]) == 258
    chosen = {int(t) for s in samples for t in s.top_ids[:, 0]}
    assert chosen <= set(kept.tolist())


def test_resumed_training_equals_uninterrupted(target: LoadedModel, tmp_path: pathlib.Path) -> None:
    samples = _samples(target, max_new=16, top_k=8)
    v = target.config.vocab_size
    kept = torch.arange(v)
    to_kept = torch.arange(v)

    def fresh() -> MirrorLlama:
        return MirrorLlama.from_transformer(target.model, [1], kept, max_len=64)

    kw = dict(steps=12, lr=3e-3, batch_seqs=2, max_len=64, seed=0, ckpt_every=4)
    whole = fresh()
    ref = train(whole, samples, to_kept, ckpt=tmp_path / "a.pt", resume=False, **kw)  # type: ignore[arg-type]

    class Interrupt(Exception):
        pass

    def stop_at_6(step: int, loss: float) -> None:
        if step == 6:
            raise Interrupt

    part = fresh()
    with pytest.raises(Interrupt):
        train(part, samples, to_kept, ckpt=tmp_path / "b.pt", resume=False, on_step=stop_at_6, **kw)  # type: ignore[arg-type]
    resumed = fresh()
    state = train(resumed, samples, to_kept, ckpt=tmp_path / "b.pt", resume=True, **kw)  # type: ignore[arg-type]
    assert state.step == 12 and len(state.losses) == 12
    torch.testing.assert_close(torch.tensor(state.losses), torch.tensor(ref.losses))
    for a, b in zip(whole.parameters(), resumed.parameters(), strict=True):
        torch.testing.assert_close(a, b)
    assert sum(ref.losses[-3:]) < sum(ref.losses[:3])  # it learns
    after = acceptance(whole, samples, kept, to_kept, 64)
    assert 0.0 <= after["all"]["alpha"] <= 1.0
    assert 1.0 <= after["all"]["mean_accepted_length"] <= 5.0


def test_distill_command_end_to_end_and_resume(
    target: LoadedModel, target_dir: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    prompts = write_prompts(tmp_path / "p.jsonl")
    out = tmp_path / "out"
    cfg = DistillConfig(
        out=out, target=str(target_dir), prompts=prompts, steps=6, init_layers=(-1,),
        kept_vocab=96, max_new=10, gen_batch=3, batch_seqs=2, max_len=64, lr=3e-3,
        sampled_fraction=0.5,
    )  # fmt: skip
    report = distill(cfg)
    assert json.loads((out / "report.json").read_text()) == report
    assert report["steps"] == 6 and report["kept_vocab"] == 96
    assert report["data"]["heldout_samples"] == 2  # greedy answers of the held-out prompts only
    assert set(report["heldout"]) == {"all", "chat", "customer_service"}
    n_shard_samples = len(load_shards(out / "shards"))
    assert n_shard_samples == 6 + 2  # greedy for every prompt + sampled for half the training ones
    d = load_draft(out, target)
    assert d.kept_ids is not None and d.kept_ids.numel() == 96
    drafter = DraftModelDrafter(d, confidence=0.0)
    drafter.extend([5, 17, 200])
    assert len(drafter.propose(4)) == 4
    # resume: shards are reused, training continues from step 6 to 10
    more = distill(DistillConfig(**{**cfg.__dict__, "steps": 10, "resume": True}))
    assert more["steps"] == 10
    assert more["loss_first"][:6] == report["loss_first"][:6]
    assert len(load_shards(out / "shards")) == n_shard_samples
