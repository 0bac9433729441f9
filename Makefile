# Every target bootstraps its own tools: uv (from PyPI, into .tools/ when not on PATH) and .venv.
SHELL := /bin/bash
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo $(CURDIR)/.tools/bin/uv)
VENV := .venv
RUN := $(UV) run --frozen --no-sync
PYTEST_ARGS ?=

.PHONY: demo test lint fmt bench sync clean

$(CURDIR)/.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --all-groups
	@touch $@

sync: $(VENV)/.synced

demo: sync
	$(RUN) sq demo

test: sync
	$(RUN) pytest -n 2 $(PYTEST_ARGS)

lint: sync
	$(RUN) ruff check src tests bench
	$(RUN) ruff format --check src tests bench
	$(RUN) mypy
	$(RUN) lint-imports

fmt: sync
	$(RUN) ruff check --fix src tests bench
	$(RUN) ruff format src tests bench

bench: sync
	$(RUN) python bench/queue_throughput.py
	$(RUN) python bench/discovery_cost.py

clean:
	rm -rf $(VENV) .tools .pytest_cache .mypy_cache .ruff_cache
