#!/usr/bin/env bash
# Build llama.cpp's C++ `llama-server` (and `llama-quantize`) for the benchmarks' peer.
#
# The sources are the ones llama-cpp-python (the `bench` extra) vendors, so both peers run
# the same llama.cpp: `pip download llama-cpp-python --no-deps --no-binary :all:` fetches the
# sdist (or set LLAMA_CPP_SDIST to a .tar.gz you have). Built natively (-march=native, as a
# user building llama.cpp on their machine would), niced, into a cache outside the repository:
#   $AGENTKIT_LLAMA_SERVER_DIR (default ~/.cache/agentkit/llama-server)/bin/llama-server
# The benchmarks look there (or at $AGENTKIT_LLAMA_SERVER) and skip the peer when it is missing.
#
# Usage: scripts/build_llama_server.sh      (make llama-server)
# Env:   JOBS (default 2), PYTHON (default .venv/bin/python, else python3), LLAMA_CPP_SDIST.
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
cache="${AGENTKIT_LLAMA_SERVER_DIR:-$HOME/.cache/agentkit/llama-server}"
jobs="${JOBS:-2}"
py="${PYTHON:-}"
if [ -z "$py" ]; then
  if [ -x "$here/.venv/bin/python" ]; then py="$here/.venv/bin/python"; else py=python3; fi
fi
mkdir -p "$cache"
cd "$cache"

sdist="${LLAMA_CPP_SDIST:-}"
if [ -z "$sdist" ]; then
  sdist="$(ls llama_cpp_python-*.tar.gz 2>/dev/null | sort -V | tail -n 1 || true)"
fi
if [ -z "$sdist" ]; then
  "$py" -m pip download llama-cpp-python --no-deps --no-binary :all: -d "$cache"
  sdist="$(ls llama_cpp_python-*.tar.gz | sort -V | tail -n 1)"
fi
name="$(basename "$sdist" .tar.gz)"          # llama_cpp_python-0.3.36
version="${name#llama_cpp_python-}"
[ -d "$name" ] || tar xzf "$sdist"
src="$cache/$name/vendor/llama.cpp"
build="$cache/build-$version"

nice -n 19 cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release \
  -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_COMMON=ON \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_APP=OFF \
  -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_CURL=OFF \
  -DGGML_NATIVE=ON -DBUILD_SHARED_LIBS=OFF
nice -n 19 cmake --build "$build" -j "$jobs" --target llama-server llama-quantize

mkdir -p "$cache/bin"
ln -sf "$build/bin/llama-server" "$cache/bin/llama-server"
ln -sf "$build/bin/llama-quantize" "$cache/bin/llama-quantize"
# what the benchmarks record beside the peer's own --version output
printf '{"llama_cpp_python_sdist": "%s", "source": "%s"}\n' "$version" "$src" > "$cache/bin/source.json"
"$cache/bin/llama-server" --version || true
echo "built $cache/bin/llama-server"
