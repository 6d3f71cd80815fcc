"""Accuracy cost of int8 activations on a model: ``python -m engine.bench.accuracy``.

For a few chat prompts, decodes greedily token by token with fp32 activations,
then replays the same tokens with int8 activations (teacher forcing) and
reports the max / mean absolute logit difference over every position and how
often the argmax agrees; finally decodes freely with int8 activations and
counts the greedy tokens equal to the fp32 ones (and the first divergence).
"""

from __future__ import annotations

import argparse

import structlog
import torch

from engine import kernels
from engine._engine import Engine

__all__ = ["main"]

_log = structlog.get_logger("engine.bench.accuracy")

PROMPTS = [
    "What is the capital of France?",
    "Write a Python function that adds two numbers.",
    "My order #1234 has not arrived. What should I do?",
    "Explain in two sentences why the sky is blue.",
]


def _decode(
    e: Engine, ids: list[int], n_new: int, act_quant: bool, forced: list[int] | None = None
) -> tuple[torch.Tensor, list[int]]:
    """Token-by-token forward over the prompt then ``n_new`` tokens; (logits (P, V), new ids)."""
    kernels.set_act_quant(act_quant)
    slot = e.cache.allocate()
    try:
        rows: list[torch.Tensor] = []
        seq = list(ids)
        for pos in range(len(ids) + n_new - 1):
            logits = e.model.forward(
                torch.tensor([seq[pos]]), torch.tensor([slot]), torch.tensor([pos]), e.cache
            )[0]  # (V,)
            rows.append(logits)
            if pos + 1 >= len(seq):
                nxt = forced[pos + 1 - len(ids)] if forced else int(logits.argmax())
                seq.append(nxt)
        return torch.stack(rows), seq[len(ids) :]
    finally:
        e.cache.free(slot)
        kernels.set_act_quant(None)


def main() -> None:
    """Log the accuracy of the default model (or ``--model``): one event a prompt, one overall."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default="default")
    ap.add_argument("--tokens", type=int, default=64)
    args = ap.parse_args()
    e = Engine.load(args.model, max_seq_len=512, max_slots=1)
    torch.set_num_threads(1)  # results do not depend on it; waits on a busy machine do
    diffs: list[torch.Tensor] = []
    agree = same = total = 0
    for q in PROMPTS:
        ids = e.encode(e.render_chat([{"role": "user", "content": q}]))
        ref_logits, ref_new = _decode(e, ids, args.tokens, act_quant=False)
        i8_logits, _ = _decode(e, ids, args.tokens, act_quant=True, forced=ref_new)
        free = _decode(e, ids, args.tokens, act_quant=True)[1]
        d = (i8_logits - ref_logits).abs()  # (P, V)
        diffs.append(d.amax(-1))
        agree += int((i8_logits.argmax(-1) == ref_logits.argmax(-1)).sum())
        eq = [a == b for a, b in zip(free, ref_new, strict=True)]
        n_same, first = sum(eq), eq.index(False) if False in eq else None
        same, total = same + n_same, total + len(ref_new)
        _log.info(
            "accuracy.prompt", prompt=q[:40], positions=d.shape[0],
            max_dlogit=round(float(d.max()), 4), mean_dlogit=round(float(d.mean()), 5),
            free_greedy_equal=f"{n_same}/{len(ref_new)}", first_divergence=first,
        )  # fmt: skip
    per_pos = torch.cat(diffs)
    n = per_pos.numel()
    _log.info(
        "accuracy.all", positions=n, max_dlogit=round(float(per_pos.max()), 4),
        mean_per_position_max=round(float(per_pos.mean()), 4),
        teacher_forced_argmax_agreement=f"{agree}/{n}", free_greedy_equal=f"{same}/{total}",
    )  # fmt: skip


if __name__ == "__main__":
    main()
