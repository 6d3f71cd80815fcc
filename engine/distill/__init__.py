"""Training a draft model for speculative decoding (``agentkit distill``).

Training code, not runtime: the engine loads a finished draft through
`engine.speculative` and never imports this package.

- `_pipeline`: `distill`, the resumable run (generate, choose the kept
  vocabulary, train, report), and `DistillConfig`;
- `_data`: the target's answers and top-k distributions (shards);
- `_mirror`: `MirrorLlama`, a plain-torch fp32 copy of target blocks, trainable;
- `_train`: training and held-out acceptance.

Example::

    report = distill(DistillConfig(out=pathlib.Path("/tmp/draft"), target="default"))
"""

from engine.distill._pipeline import DistillConfig, DistillProgress, default_prompts_path, distill

__all__ = ["DistillConfig", "DistillProgress", "default_prompts_path", "distill"]
