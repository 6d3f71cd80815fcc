"""Training a draft model for speculative decoding (``agentkit distill``).

Training code, not runtime: the engine loads a finished draft through
`engine.speculative` and never imports this package.

- `_pipeline`: `distill`, the resumable run (generate, train, report), and `DistillConfig`;
- `_corpus`: the prompt set built from the routing corpus (exclusions, grounded
  rendering, the frozen held-out split), JSONL split on "\\n" only;
- `_generate`: the target's answers through the engine's batched scheduler
  (shards + manifest, token target, time limit, resume);
- `_data`: samples and shards (streamed in training);
- `_mirror`: `MirrorLlama`, a plain-torch fp32 copy of target blocks, trainable (the draft);
- `_train`: training and held-out acceptance; `_report`: the train-and-report phase.

Example::

    report = distill(DistillConfig(out=pathlib.Path("/tmp/draft"), target="default"))
"""

from engine.distill._pipeline import DistillConfig, DistillProgress, default_prompts_path, distill

__all__ = ["DistillConfig", "DistillProgress", "default_prompts_path", "distill"]
