"""Distillation on a tiny random target: generation through the scheduler, resume, training, e2e."""

from __future__ import annotations

import json
import pathlib
from collections.abc import Iterator

import pytest
import torch

from engine import Engine
from engine.distill._corpus import PromptSpec
from engine.distill._data import Sample, load_shards, save_shard
from engine.distill._generate import GenConfig, generate, read_manifest
from engine.distill._mirror import MirrorLlama
from engine.distill._pipeline import DistillConfig, distill
from engine.distill._report import choose_vocab, mirror_of_draft
from engine.distill._train import ShardStream, acceptance, train
from engine.kv_cache import KVCache
from engine.loader import LoadedModel, load_model
from engine.speculative._draft_model import DraftModelDrafter, load_draft
from tests.engine._draft_helpers import (  # one_thread: autouse fixture
    make_target,
    one_thread,  # noqa: F401
    write_prompts,
)

QUESTIONS = ["where is my card?", "card card card card card card", "abc", "refund my order",
             "what is 2 + 2?", "hello there", "top up top up top up", "x y z"]  # fmt: skip


def _specs(n: int = len(QUESTIONS)) -> list[PromptSpec]:
    return [
        PromptSpec(f"k{i}", "chat" if i % 2 else "customer_service", "test",
                   ({"role": "user", "content": q},), heldout=i % 4 == 0)
        for i, q in enumerate(QUESTIONS[:n])
    ]  # fmt: skip


@pytest.fixture(scope="module")
def target_dir(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    return make_target(tmp_path_factory.mktemp("target"))


@pytest.fixture(scope="module")
def target(target_dir: pathlib.Path) -> LoadedModel:
    return load_model(target_dir, max_seq_len=256)


@pytest.fixture(scope="module")
def engine(target_dir: pathlib.Path) -> Iterator[Engine]:
    e = Engine.load(target_dir, threads=1, max_seq_len=256, max_slots=4, draft="ngram")
    yield e
    e.close()


def _plain_greedy(lm: LoadedModel, prompt: list[int], n: int) -> tuple[list[int], torch.Tensor]:
    """Greedy decode on the engine's Transformer, a token a forward; tokens and logits (n, V)."""
    m, cfg = lm.model, lm.config
    cache = KVCache(cfg.n_layers, 1, cfg.n_kv_heads, 256, cfg.head_dim)
    toks = list(prompt)
    rows = []
    slot0 = torch.zeros(len(toks), dtype=torch.long)
    logits = m.forward(torch.tensor(toks), slot0, torch.arange(len(toks)), cache)[-1]
    for _ in range(n):
        rows.append(logits)
        toks.append(int(logits.argmax()))
        pos = torch.tensor([len(toks) - 1])
        logits = m.forward(torch.tensor(toks[-1:]), torch.zeros(1, dtype=torch.long), pos, cache)[0]
    return toks[len(prompt) :], torch.stack(rows)


def test_scheduler_generation_equals_plain_greedy_decoding(
    engine: Engine, target: LoadedModel, tmp_path: pathlib.Path
) -> None:
    cfg = GenConfig(max_new=12, sampled_fraction=1.0, top_k=8, shard_size=3)
    specs = _specs()
    generate(engine, specs, tmp_path, cfg, target_tokens=10**6, concurrency=4)
    samples = load_shards(tmp_path)
    greedy = [s for s in samples if not s.sampled]
    assert len(greedy) == len(specs) and len(samples) == len(specs) + 6  # + sampled train ones
    jobs = json.loads((tmp_path / "jobs.json").read_text())
    for s in greedy:
        ids = engine.encode(engine.render_chat(list(specs[jobs[s.job][0]].messages)))
        assert s.tokens[: s.n_prompt] == ids
        toks, logits = _plain_greedy(target, ids, len(s.tokens) - s.n_prompt)
        assert s.tokens[s.n_prompt :] == toks  # exactly plain greedy decoding's tokens
        ref = torch.log_softmax(logits, -1).gather(1, s.top_ids.long())
        torch.testing.assert_close(s.top_logp.float(), ref, atol=2e-2, rtol=1e-2)
        assert (s.top_ids[:, 0].long() == logits.argmax(-1)).all()


class _Kill(Exception):
    pass


class _KillAfter:
    def __init__(self, n: int) -> None:
        self.left = n

    def start(self, target_tokens: int, done_tokens: int, jobs_left: int) -> None:
        pass

    def update(self, tokens: int, samples: int, info: str) -> None:
        self.left -= samples
        if self.left <= 0:
            raise _Kill


def _by_job(samples: list[Sample]) -> dict[int, Sample]:
    return {s.job: s for s in samples}


def test_killed_generation_continues_where_it_stopped(
    engine: Engine, tmp_path: pathlib.Path
) -> None:
    cfg = GenConfig(max_new=10, sampled_fraction=0.5, top_k=4, shard_size=2)
    whole = tmp_path / "whole"
    generate(engine, _specs(), whole, cfg, target_tokens=10**6, concurrency=4)
    part = tmp_path / "part"
    with pytest.raises(BaseException) as info:  # anyio wraps it in a group
        generate(engine, _specs(), part, cfg, target_tokens=10**6, concurrency=2,
                 progress=_KillAfter(5))  # fmt: skip
    assert info.errisinstance((_Kill, BaseExceptionGroup))
    saved = read_manifest(part)
    assert saved is not None and 1 <= len(saved["shards"]) < len(read_manifest(whole)["shards"])  # type: ignore[index]
    # the prompt set is frozen: a different one passed on resume is ignored
    generate(engine, _specs(2), part, cfg, target_tokens=10**6, concurrency=3)
    a, b = _by_job(load_shards(whole)), _by_job(load_shards(part))
    assert sorted(a) == sorted(b) and len(load_shards(part)) == len(b)  # no job twice
    for j, s in a.items():  # greedy and seeded sampled answers alike
        assert b[j].tokens == s.tokens and torch.equal(b[j].top_ids, s.top_ids)
    with pytest.raises(ValueError, match="same settings"):
        generate(engine, _specs(), part, GenConfig(max_new=11), target_tokens=10)


def test_token_target_stops_generation(engine: Engine, tmp_path: pathlib.Path) -> None:
    cfg = GenConfig(max_new=10, sampled_fraction=0.0, top_k=4, shard_size=1)
    m = generate(engine, _specs(), tmp_path, cfg, target_tokens=15, concurrency=1)
    assert 15 <= m["written_tokens"] < 15 + 10 and len(m["shards"]) < len(_specs())
    # held-out prompts are answered first
    first = load_shards(tmp_path)[0]
    assert first.heldout


def _stream_samples(target: LoadedModel, folder: pathlib.Path) -> list[pathlib.Path]:
    """Shards of seeded samples of the target's first two blocks (training data)."""
    mirror = MirrorLlama.from_transformer(target.model, range(2), max_len=64)
    g = torch.Generator().manual_seed(0)
    files = []
    for f in range(4):
        shard = []
        for i in range(3):
            toks = torch.randint(3, 250, (14,), generator=g).tolist()
            logp = torch.log_softmax(mirror(torch.tensor([toks]))[0, 5:], -1)  # (9, V)
            vals, ids = logp.topk(8, dim=-1)
            shard.append(Sample("chat", False, toks, 6, ids.to(torch.int32)[:-1],
                                vals.half()[:-1], job=f * 3 + i))  # fmt: skip
        files.append(folder / f"shard-{f:05d}.pt")
        save_shard(files[-1], shard)
    return files


def test_choose_vocab_keeps_frequent_and_stop_tokens() -> None:
    from collections import Counter

    kept = choose_vocab(Counter({7: 5, 9: 3, 11: 1}), 6, 300, {258})
    assert kept.tolist()[:4] == [258, 7, 9, 11] and len(set(kept.tolist())) == 6


@pytest.mark.parametrize("bf16", [False, True])
def test_resumed_streamed_training_equals_uninterrupted(
    target: LoadedModel, tmp_path: pathlib.Path, bf16: bool
) -> None:
    files = _stream_samples(target, tmp_path)
    stream = ShardStream(files, [3] * 4, batch_seqs=2, seed=0, group=2)
    first = [[s.job for s in b] for b, _ in zip(stream.batches(0), range(14), strict=False)]
    assert [[s.job for s in b] for b, _ in zip(stream.batches(9), range(5), strict=False)] == first[
        9:
    ]
    v = target.config.vocab_size
    kept, to_kept = torch.arange(v), torch.arange(v)

    def fresh() -> MirrorLlama:
        return MirrorLlama.from_transformer(target.model, [1], kept, max_len=64)

    kw = dict(steps=12, lr=3e-3, max_len=64, ckpt_every=4, bf16=bf16)
    whole = fresh()
    ref = train(whole, stream, to_kept, ckpt=tmp_path / "a.pt", resume=False, **kw)  # type: ignore[arg-type]

    def stop_at_6(step: int, loss: float) -> None:
        if step == 6:
            raise _Kill

    part = fresh()
    with pytest.raises(_Kill):
        train(part, stream, to_kept, ckpt=tmp_path / "b.pt", resume=False, on_step=stop_at_6, **kw)  # type: ignore[arg-type]
    resumed = fresh()
    state = train(resumed, stream, to_kept, ckpt=tmp_path / "b.pt", resume=True, **kw)  # type: ignore[arg-type]
    assert state.step == 12
    torch.testing.assert_close(torch.tensor(state.losses), torch.tensor(ref.losses))
    for a, b in zip(whole.parameters(), resumed.parameters(), strict=True):
        torch.testing.assert_close(a, b)
    assert sum(ref.losses[-3:]) < sum(ref.losses[:3])  # it learns
    samples = load_shards(tmp_path)[:3]
    after = acceptance(whole, samples, kept, to_kept, 64)
    assert 0.0 <= after["all"]["alpha"] <= 1.0


def test_distill_end_to_end_on_three_prompts(
    target: LoadedModel, target_dir: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    prompts = write_prompts(tmp_path / "p.jsonl", n=3, heldout_every=3)  # prompt 0 held out
    out = tmp_path / "out"
    cfg = DistillConfig(
        out=out, target=str(target_dir), prompts=prompts, steps=4, init_layers=(-1,),
        kept_vocab=96, gen=GenConfig(max_new=10, sampled_fraction=1.0), tokens=10**6,
        concurrency=2, threads=1, batch_seqs=2, max_len=64, lr=3e-3,
    )  # fmt: skip
    report = distill(cfg)
    assert json.loads((out / "report.json").read_text()) == report
    assert report["steps"] == 4 and report["kept_vocab"] == 96
    assert report["data"]["heldout_samples"] == 1  # the held-out prompt's greedy answer
    assert report["data"]["train_samples"] == 4  # 2 greedy + 2 sampled
    assert set(report["heldout"]) == {"all", "chat"}
    assert report["shipped_draft_on_this_heldout"] == {}  # the shipped draft fits another target
    # the written draft read back as a mirror scores what the report says
    mirror, kept = mirror_of_draft(out, target, 65)
    to_kept = torch.full((target.config.vocab_size,), -1, dtype=torch.long)
    to_kept[kept] = torch.arange(kept.numel())
    held = [s for s in load_shards(out) if s.heldout]
    got = acceptance(mirror, held, kept, to_kept, 64)["all"]["alpha"]
    assert got == pytest.approx(report["heldout"]["all"]["alpha"], abs=0.02)  # fp16 export
    d = load_draft(out, target)
    assert d.kept_ids is not None and d.kept_ids.numel() == 96
    drafter = DraftModelDrafter(d, confidence=0.0)
    drafter.extend([5, 17, 200])
    assert len(drafter.propose(4)) == 4
    more = distill(DistillConfig(**{**cfg.__dict__, "steps": 6, "resume": True}))
    assert more["steps"] == 6 and more["loss_first"][:4] == report["loss_first"][:4]
    assert len(load_shards(out)) == 5  # generation found every job done
