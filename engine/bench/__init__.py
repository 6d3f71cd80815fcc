"""The engine's benchmark harness: it measures what users run, and nothing imports it.

Runtime modules never import this package (tested). Each benchmark times the
production path: `Engine.generate` or the continuous-batching scheduler.

- `decode`: our decode speed and time to first token against llama.cpp
  (``python -m engine.bench.decode``, ``agentkit bench decode``);
- `speculative`: tokens/s with each drafter against plain decoding
  (``agentkit bench speculative``);
- `batching`: sequential vs static vs continuous batching on a mixed
  workload (``agentkit bench batching``);
- `kernels`: the kernels' GB/s and the forward's cost by rows
  (``python -m engine.bench.kernels``);
- `row_cost`: a k-row forward against a 1-row forward on every kernel path
  the CPU runs, in alternated rounds (``agentkit bench kernels``,
  ``python -m engine.bench.row_cost``);
- `accuracy`: what int8 activations cost in logits and greedy tokens
  (``python -m engine.bench.accuracy``);
- `timing`: one request through the scheduler, timed (shared by the above);
- `tasks`: the benchmark prompts;
- private helpers: `_peer` (llama-cpp-python in a process of its own), `_child`
  (a benchmark in a fresh process), `_rounds` (alternated rounds, medians and
  ranges), `_machine` (CPU features and versions recorded with each result),
  `_static` (the static-batching baseline), `_workload` (the batching
  benchmark's request mix).
"""
