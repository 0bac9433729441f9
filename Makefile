# Every target bootstraps its own tools: uv (from PyPI, into .tools/ when not on PATH) and .venv.
SHELL := /bin/bash
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo $(CURDIR)/.tools/bin/uv)
VENV := .venv
RUN := $(UV) run --frozen --no-sync
PYTEST_ARGS ?=

.PHONY: demo test lint fmt bench bench-quick sync clean

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

# Every benchmark; each ends with its RESULT line. QUICK=1 (or `make bench-quick`) passes --quick
# to each: a smoke run of the whole set in minutes. Set SQ_TEST_POSTGRES_URL: queue_throughput needs
# a PostgreSQL server, and the others then measure it beside SQLite.
BENCHES := queue_throughput discovery_cost pipeline_overhead pipeline_profile speculate_run \
	speculate_depth stovepipe_latency gateway_land http_guard metrics_scrape simulate sim_builds \
	sim_scorer_bound sim_envelope sim_overload controls_sim twin crash_soak batching orchestrator_writes \
	replay_history

bench: sync
	@failed=""; for b in $(BENCHES); do \
		echo "== bench/$$b.py $(if $(QUICK),--quick)"; \
		$(RUN) python bench/$$b.py $(if $(QUICK),--quick) || failed="$$failed $$b"; \
	done; \
	if [ -n "$$failed" ]; then echo "failed:$$failed"; exit 1; fi

bench-quick:
	$(MAKE) bench QUICK=1

clean:
	rm -rf $(VENV) .tools .pytest_cache .mypy_cache .ruff_cache
