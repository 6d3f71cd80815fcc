#!/usr/bin/env bash
# Write the Q4_0, Q8_0 and Q4_K_M siblings of the embedded SmolLM2-135M-Instruct Q4_1 GGUF,
# for the benchmarks' per-quantisation rows, with llama.cpp's own `llama-quantize` (built by
# scripts/build_llama_server.sh) into $AGENTKIT_QUANTS_DIR (default ~/.cache/agentkit/quants).
#
# Only the Q4_1 file ships (no F16/BF16 original is here), so these are RE-quantised from
# Q4_1 (`--allow-requantize`): each file has its format's layout, size and kernels, which is
# what decode speed depends on, but its weights carry Q4_1's rounding too; do not use them
# for accuracy. With an F16 GGUF of the model, pass it as SRC=... for proper files.
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
py="${PYTHON:-$here/.venv/bin/python}"
cache="${AGENTKIT_LLAMA_SERVER_DIR:-$HOME/.cache/agentkit/llama-server}"
quantize="$cache/bin/llama-quantize"
out="${AGENTKIT_QUANTS_DIR:-$HOME/.cache/agentkit/quants}"
src="${SRC:-$("$py" -c 'from engine.loader import default_model_path; print(default_model_path())')}"
[ -x "$quantize" ] || { echo "no $quantize: run 'make llama-server' first" >&2; exit 2; }
mkdir -p "$out"
base="$(basename "$src" .gguf)"; base="${base%.Q4_1}"; base="${base%.F16}"; base="${base%.BF16}"
for t in Q4_0 Q8_0 Q4_K_M; do
  dst="$out/$base.$t.gguf"
  [ -s "$dst" ] && { echo "have $dst"; continue; }
  nice -n 19 "$quantize" --allow-requantize "$src" "$dst" "$t" 2 > "$dst.log" 2>&1 \
    || { tail -20 "$dst.log" >&2; exit 1; }
  echo "wrote $dst"
done
ln -sf "$src" "$out/$base.Q4_1.gguf"
ls -la "$out"/*.gguf
