"""Harmful requests and safe look-alikes in the middle of long benign text: before and after windows.

Each labelled row of dev.jsonl and of train/{harmbench,coconot}.jsonl is put between
6 KB of wikitext on each side (train/wikitext.jsonl paragraphs, seeded) and scored two
ways: the head-and-tail view alone (what the filter read before `_long_text`) and
`score_text` (windows). Also 300 documents of 20 KB of wikitext and 100 of 250 SMS
messages (train/sms_ham.jsonl), alone: flagged before and after. Prints JSON; rows of
dev.jsonl are the shipped model's training rows, so they are counted apart.

    .venv/bin/python scripts/long_text_eval.py [DATA_DIR]
"""

from __future__ import annotations

import json
import random
import sys
from collections import Counter
from pathlib import Path

from agentkit.safety._long_text import score_text
from agentkit.safety._scoring import moderation_scores
from router._normalize import cap_text, normalize_text


def _rows(path: Path) -> list[dict[str, str]]:
    return [json.loads(x) for x in path.read_text().split("\n") if x.strip()]


def main(root: Path) -> dict[str, object]:
    """Run the comparison over the corpus at ``root`` (shared/data/routing)."""
    wiki = [r["text"] for r in _rows(root / "train" / "wikitext.jsonl")]
    rng = random.Random(0)

    def filler(n: int) -> str:
        out: list[str] = []
        while sum(map(len, out)) < n:
            out.append(rng.choice(wiki))
        return "\n\n".join(out)

    dev = _rows(root / "dev.jsonl")
    rows = list(dev)
    rows += [
        r for name in ("harmbench", "coconot") for r in _rows(root / "train" / f"{name}.jsonl")
    ]
    counts: Counter[str] = Counter()
    for row in rows:
        if row["label"] not in ("unsafe", "safe_lookalike"):
            continue
        alone = moderation_scores(normalize_text(row["text"])).unsafe >= 0.5
        text = normalize_text(filler(6000) + "\n\n" + row["text"] + "\n\n" + filler(6000))
        before = moderation_scores(cap_text(text)).unsafe >= 0.5
        after = score_text(text).unsafe >= 0.5
        group = "dev" if row in dev else str(row.get("source"))
        counts[f"{group} {row['label']} alone={alone:d} before={before:d} after={after:d}"] += 1
    sms = [r["text"] for r in _rows(root / "train" / "sms_ham.jsonl")]
    docs = [normalize_text(filler(20_000)) for _ in range(300)]
    docs += [normalize_text("\n".join(rng.choice(sms) for _ in range(250))) for _ in range(100)]
    before = [moderation_scores(cap_text(d)).unsafe >= 0.5 for d in docs]
    after = [score_text(d).unsafe >= 0.5 for d in docs]
    return {"cells": dict(sorted(counts.items())),
            "wikitext_20k_flagged": [sum(before[:300]), sum(after[:300]), 300],
            "sms_250_flagged": [sum(before[300:]), sum(after[300:]), 100]}  # fmt: skip


if __name__ == "__main__":
    here = Path(__file__).resolve().parents[1]
    print(
        json.dumps(
            main(Path(sys.argv[1]) if len(sys.argv) > 1 else here.parent / "shared/data/routing"),
            indent=1,
        )
    )
