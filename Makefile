# mailsift: the README's commands. Everything sets itself up on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install serve test lint typecheck unit bench bench-jobs bench-api bench-cluster clean \
	bench-limits bench-dashboard bench-suppression bench-memory bench-hardening

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

serve: $(STAMP)
	$(BIN)/mailsift db upgrade
	$(BIN)/mailsift serve

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest tests/unit -q

test: lint typecheck
	$(BIN)/pytest -q

bench: $(STAMP)
	@$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m bench.run

bench-jobs: $(STAMP)
	$(BIN)/python -m bench.results_bench

bench-api: $(STAMP)
	$(BIN)/python -m bench.api_bench

bench-cluster: $(STAMP)
	$(BIN)/python -m bench.cluster_bench

bench-limits: $(STAMP)
	$(BIN)/python -m bench.limits_bench

bench-dashboard: $(STAMP)
	$(BIN)/python -m bench.dashboard_bench

bench-suppression: $(STAMP)
	$(BIN)/python -m bench.suppression_bench

bench-memory: $(STAMP)
	$(BIN)/python -m bench.memory_bench

bench-hardening: $(STAMP)
	$(BIN)/python -m bench.hardening_bench

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
