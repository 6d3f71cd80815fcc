"""Offline probe: would an EAGLE-style draft (fed the target's hidden state) beat ours?

Not part of the SDK: the experiment behind "EAGLE-style features, probed" in
`docs/distillation.md`, kept so the numbers there can be reproduced.

It reuses an `agentkit distill` output folder (its ``shards/``: the target's
answers and top-k distributions), then

1. computes the target's final-norm hidden state ``f_t`` at every position of
   every sequence (a plain-torch fp32 mirror of the target, teacher-forced);
2. trains a one-block draft in the manner of EAGLE (Li et al. 2024): input
   ``fc([embed(x_{t+1}); f_t])``, one decoder block (initialised from a target
   block), RMSNorm, the target's head cut to the same kept vocabulary as the
   shipped draft; loss = cross-entropy against the target's top-k
   distribution + smooth-L1 regression to ``f_{t+1}``, uniform noise on the
   input features;
3. reports, on the held-out greedy answers: ``alpha_first`` (the first
   drafted token from the target's own feature, comparable to the shipped
   draft's teacher-forced α), ``alpha_chain`` (accepted / (accepted +
   rejections) when drafting γ = 4 tokens on the draft's own predicted
   features, as it would at run time), the mean accepted length at γ = 4,
   and the acceptance at each depth.

Usage (from the repository root)::

    python scripts/eagle_probe.py --distill-out /tmp/dm_big --steps 1200 --all-ce 1.0
"""

from __future__ import annotations

import argparse
import json
import math
import pathlib
import random
import time
from collections import Counter
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from engine.distill._data import Sample, load_shards
from engine.distill._mirror import MirrorBlock, MirrorLlama, _rms
from engine.distill._report import _stop_ids, choose_vocab
from engine.loader import load_model

MAX_LEN = 256


def target_features(lm: Any, samples: list[Sample], cache: pathlib.Path) -> list[torch.Tensor]:
    """Final-norm hidden states (T, D) fp16 of every sample, cached in ``cache``."""
    if cache.exists():
        feats: list[torch.Tensor] = torch.load(cache)
        return feats
    tgt = MirrorLlama.from_transformer(lm.model, range(lm.config.n_layers), max_len=1024)
    out: list[torch.Tensor | None] = [None] * len(samples)
    order = sorted(range(len(samples)), key=lambda i: len(samples[i].tokens))
    with torch.inference_mode():
        for s in range(0, len(order), 8):
            idx = order[s : s + 8]
            toks = torch.nn.utils.rnn.pad_sequence(
                [torch.tensor(samples[i].tokens) for i in idx], batch_first=True
            )
            h = tgt.hidden(toks)  # (B, T, D)
            for j, i in enumerate(idx):
                out[i] = h[j, : len(samples[i].tokens)].half().clone()
    done = [f for f in out if f is not None]
    torch.save(done, cache)
    return done


class EagleDraft(nn.Module):
    """fc([embed(x_{t+1}); f_t]) -> one block -> RMSNorm: the predicted f_{t+1}."""

    def __init__(self, lm: Any, embed: torch.Tensor, init_block: int) -> None:
        """Start from fc = [I | I] and a copy of target block ``init_block``."""
        super().__init__()
        cfg = lm.config
        d = cfg.dim
        self.cfg, self.embed = cfg, embed
        self.fc = nn.Linear(2 * d, d, bias=False)
        with torch.no_grad():
            self.fc.weight.copy_(torch.cat([torch.eye(d), torch.eye(d)], 1))
        self.block = MirrorBlock(cfg, MirrorLlama.block_tensors(lm.model, init_block))
        self.norm = nn.Parameter(lm.model.norm.float().clone())
        angles = torch.outer(torch.arange(MAX_LEN + 8, dtype=torch.float32), cfg.inv_freq())
        self.cos, self.sin = angles.cos(), angles.sin()

    def inputs(self, f: torch.Tensor, toks: torch.Tensor) -> torch.Tensor:
        """(…, T, D) block inputs from features f_t and next tokens x_{t+1}."""
        out: torch.Tensor = self.fc(torch.cat([self.embed[toks], f], -1))
        return out

    def forward(self, f: torch.Tensor, toks: torch.Tensor) -> torch.Tensor:
        """Teacher-forced: f (B, T, D), toks (B, T) -> predicted next features (B, T, D)."""
        x = self.inputs(f, toks)
        t = x.shape[1]
        x = self.block(x, self.cos[:t, None, :], self.sin[:t, None, :])
        return _rms(x, self.norm, self.cfg.norm_eps)

    def row(
        self, x: torch.Tensor, pos: int, keys: list[torch.Tensor], values: list[torch.Tensor]
    ) -> torch.Tensor:
        """One drafted row at ``pos`` attending to ``keys``/``values`` (appended to)."""
        cos, sin = self.cos[pos : pos + 1, None, :], self.sin[pos : pos + 1, None, :]
        q, k, v = self.block.qkv(x, cos, sin)
        keys.append(k)
        values.append(v)
        kc, vc = torch.cat(keys, 1), torch.cat(values, 1)
        a = F.scaled_dot_product_attention(
            q.transpose(1, 2), kc.transpose(1, 2), vc.transpose(1, 2), enable_gqa=True
        )
        return _rms(self.block.finish(x, a), self.norm, self.cfg.norm_eps)


class Probe:
    """Data, kept vocabulary, draft and optimiser of one run."""

    def __init__(self, args: argparse.Namespace) -> None:
        """Load the target, the shards and their features."""
        out = pathlib.Path(args.distill_out)
        self.args = args
        self.samples = load_shards(out)
        self.lm = lm = load_model("default", max_seq_len=1024)
        self.feats = target_features(lm, self.samples, out / "eagle_features.pt")
        self.train_idx = [i for i, s in enumerate(self.samples) if not s.heldout]
        self.held_idx = [i for i, s in enumerate(self.samples) if s.heldout and not s.sampled]
        v = lm.config.vocab_size
        train = [self.samples[i] for i in self.train_idx]
        self.kept = choose_vocab(
            Counter(t for s in train for t in s.top_ids[:, 0].tolist()), 8192, v, _stop_ids(lm)
        )
        self.to_kept = torch.full((v,), -1, dtype=torch.long)
        self.to_kept[self.kept] = torch.arange(self.kept.numel())
        embed = lm.model.embed.dequantize()
        self.head = embed[self.kept].clone()
        self.model = EagleDraft(lm, embed, args.init_block)

    def seq(self, i: int) -> tuple[Sample, torch.Tensor, torch.Tensor, int]:
        """Sample ``i``, its features and tokens cut to `MAX_LEN`, and the cut."""
        s = self.samples[i]
        toks = torch.tensor(s.tokens)
        cut = max(0, len(toks) - MAX_LEN)
        return s, self.feats[i].float()[cut:], toks[cut:], cut

    def batch(self, ids: list[int]) -> dict[str, torch.Tensor]:
        """Padded (f_t, x_{t+1}) -> f_{t+1} rows and the response positions' soft targets."""
        fs, xs, ys, rows, cols, tid, tp = [], [], [], [], [], [], []
        for b, i in enumerate(ids):
            s, f, toks, cut = self.seq(i)
            fs.append(f[:-1])
            xs.append(toks[1:])
            ys.append(f[1:])
            # the target's distribution at position q predicts x_{q+1}; draft row q-1 predicts it
            t = torch.arange(s.top_ids.shape[0]) + s.n_prompt - 2 - cut
            keep = t >= 0
            rows.append(torch.full((int(keep.sum()),), b))
            cols.append(t[keep])
            k = self.to_kept[s.top_ids[keep].long()]
            tid.append(k.clamp_min(0))
            tp.append(s.top_logp[keep].float().exp() * (k >= 0))
        probs = torch.cat(tp)
        pad = torch.nn.utils.rnn.pad_sequence
        return {
            "f": pad(fs, batch_first=True), "x": pad(xs, batch_first=True),
            "y": pad(ys, batch_first=True),
            "mask": pad([torch.ones(len(x)) for x in xs], batch_first=True),
            "rows": torch.cat(rows), "cols": torch.cat(cols), "ids": torch.cat(tid),
            "probs": probs / probs.sum(-1, keepdim=True).clamp_min(1e-12),
        }  # fmt: skip

    def loss(self, b: dict[str, torch.Tensor]) -> tuple[torch.Tensor, float, float]:
        """CE at response positions + regression (+ optional CE at every position)."""
        a = self.args
        f = b["f"] + a.noise * (torch.rand_like(b["f"]) * 2 - 1)
        y = self.model(f, b["x"])
        mask = b["mask"]
        reg = (F.smooth_l1_loss(y, b["y"], reduction="none").mean(-1) * mask).sum() / mask.sum()
        logp = torch.log_softmax(y[b["rows"], b["cols"]] @ self.head.t(), -1)
        ce = -(b["probs"] * logp.gather(1, b["ids"])).sum(-1).mean()
        total = ce + a.reg * reg
        if a.all_ce:
            with torch.no_grad():
                p_all = torch.softmax(b["y"] @ self.head.t(), -1)
            lp_all = torch.log_softmax(y @ self.head.t(), -1)
            total = total + a.all_ce * (-(p_all * lp_all).sum(-1) * mask).sum() / mask.sum()
        return total, float(ce.detach()), float(reg.detach())

    @torch.inference_mode()
    def evaluate(self, gamma: int = 4) -> dict[str, Any]:
        """Held-out first-token and chained acceptance (see the module docstring)."""
        m = self.model
        first_ok = first_n = acc = rej = steps = emitted = 0
        depth_ok, depth_n = [0] * gamma, [0] * gamma
        for i in self.held_idx:
            s, f, toks, cut = self.seq(i)
            top1 = s.top_ids[:, 0].long()
            pred = self.kept[(m(f[None, :-1], toks[None, 1:])[0] @ self.head.t()).argmax(-1)]
            t = torch.arange(top1.shape[0]) + s.n_prompt - 2 - cut
            keep = t >= 0
            first_ok += int((pred[t[keep]] == top1[keep]).sum())
            first_n += int(keep.sum())
            x_in = m.inputs(f[None, :-1], toks[None, 1:])  # row t = (f_t, x_{t+1})
            n = x_in.shape[1]
            _, k_all, v_all = m.block.qkv(x_in, m.cos[:n, None, :], m.sin[:n, None, :])
            p = s.n_prompt - cut - 1  # the target has read through p and emitted x_{p+1}
            while p + 2 < len(toks):
                keys, values = [k_all[:, :p]], [v_all[:, :p]]
                x, pos, ok = x_in[:, p : p + 1], p, 0
                for d in range(gamma):
                    if pos + 2 >= len(toks):
                        break
                    h = m.row(x, pos, keys, values)
                    tok = self.kept[(h[0, 0] @ self.head.t()).argmax()]
                    depth_n[d] += 1
                    if int(tok) != int(toks[pos + 2]):
                        rej += 1
                        break
                    depth_ok[d] += 1
                    ok += 1
                    x = m.fc(torch.cat([m.embed[tok][None, None], h], -1))
                    pos += 1
                acc += ok
                steps += 1
                emitted += ok + 1
                p += ok + 1
        return {
            "alpha_first": round(first_ok / max(1, first_n), 4),
            "alpha_chain": round(acc / max(1, acc + rej), 4),
            "mean_accepted_length_g4": round(emitted / max(1, steps), 3),
            "depth": [round(a / max(1, n), 3) for a, n in zip(depth_ok, depth_n, strict=True)],
        }

    def train(self) -> None:
        """AdamW, linear warm-up then cosine to 10%; evaluates every ``--eval-every`` steps."""
        a = self.args
        params = [p for p in self.model.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=a.lr, betas=(0.9, 0.95), weight_decay=0.0)
        rng = random.Random(0)
        t0 = time.monotonic()
        for step in range(a.steps):
            frac = max(0, step - 20) / max(1, a.steps - 20)
            lr = a.lr * min(1.0, (step + 1) / 20) * (0.1 + 0.45 * (1 + math.cos(math.pi * frac)))
            for g in opt.param_groups:
                g["lr"] = lr
            total, ce, reg = self.loss(self.batch(rng.sample(self.train_idx, a.batch)))
            opt.zero_grad()
            total.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            if (step + 1) % a.eval_every == 0 or step + 1 == a.steps:
                report = {"step": step + 1, "ce": round(ce, 3), "reg": round(reg, 4),
                          "seconds": round(time.monotonic() - t0), **self.evaluate()}  # fmt: skip
                print(json.dumps(report), flush=True)


def main() -> None:
    """Parse the options and run the probe."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--distill-out", required=True, help="an `agentkit distill --out` folder")
    ap.add_argument("--steps", type=int, default=1200)
    ap.add_argument("--batch", type=int, default=8, help="sequences per step")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--init-block", type=int, default=29, help="target block the draft copies")
    ap.add_argument("--reg", type=float, default=1.0, help="weight of the feature regression")
    ap.add_argument("--all-ce", type=float, default=0.0, help="weight of CE at every position")
    ap.add_argument("--noise", type=float, default=0.05, help="uniform noise on input features")
    ap.add_argument("--eval-every", type=int, default=150)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    probe = Probe(args)
    print(json.dumps({"step": 0, **probe.evaluate()}), flush=True)
    probe.train()


if __name__ == "__main__":
    main()
