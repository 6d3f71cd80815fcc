"""Held-out greedy acceptance of a draft through the engine's own draft kernels.

The distillation report measures α with the fp32 training mirror, prompts cut to
``--max-len``; this reruns the written draft as the engine loads it (q8_0 blocks,
the target's q8_0 head rows) over each held-out answer with its whole prompt.

Usage::

    python scripts/draft_alpha_engine.py DRAFT_FOLDER RUN_FOLDER [TARGET]
"""

from __future__ import annotations

import json
import pathlib
import sys
from collections import defaultdict

import torch

from engine.distill._data import iter_shards, shard_files
from engine.kv_cache import KVCache
from engine.loader import load_model
from engine.speculative._draft_model import load_draft


def main(argv: list[str]) -> int:
    """Print α per category (and the positions counted) as JSON."""
    torch.set_num_threads(1)
    draft_dir, run = pathlib.Path(argv[0]), pathlib.Path(argv[1])
    lm = load_model(argv[2] if len(argv) > 2 else "default", max_seq_len=2048)
    d = load_draft(draft_dir, lm)
    m, kept, cfg = d.model, d.kept_ids, d.model.config
    if kept is None:
        raise SystemExit("not a distilled draft (no kept vocabulary)")
    agree: dict[str, int] = defaultdict(int)
    total: dict[str, int] = defaultdict(int)
    for s in iter_shards(shard_files(run)):
        if not s.heldout or s.sampled:
            continue
        cache = KVCache(cfg.n_layers, 1, cfg.n_kv_heads, len(s.tokens) + 1, cfg.head_dim)
        toks = torch.tensor(s.tokens)
        slots = torch.zeros(len(toks), dtype=torch.long)
        logits = m.forward(toks, slots, torch.arange(len(toks)), cache)  # (T, K)
        pred = kept[logits[s.n_prompt - 1 : len(s.tokens) - 1].argmax(-1)]
        ok = int((pred == s.top_ids[:, 0].long()).sum())
        for c in (s.category, "all"):
            agree[c] += ok
            total[c] += len(pred)
    print(json.dumps({c: [round(agree[c] / total[c], 3), total[c]] for c in sorted(total)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
