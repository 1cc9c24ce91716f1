# nst-sweep: `make help` lists the targets. Everything runs inside .venv/ (made by `make install`).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
ARGS ?=
# `make run key=value ...`: make keeps command-line assignments in MAKEOVERRIDES, last first, with
# spaces escaped and `$` doubled; OVERRIDES is them in the order typed (make's own variables left
# out), each single-quoted for the shell so that `(`, `*` and `${oc.env:...}` reach nst-sweep as typed.
MAKE_VARS := ARGS PYTHON VENV BIN STORAGE TRACKING
reverse = $(if $(1),$(call reverse,$(wordlist 2,$(words $(1)),$(1))) $(firstword $(1)))
shell_quote = '$(subst ','\'',$(subst ^^, ,$(subst $$$$,$$,$(1))))'
OVERRIDES = $(foreach word,$(call reverse,$(filter-out $(addsuffix =%,$(MAKE_VARS)),$(subst \ ,^^,$(MAKEOVERRIDES)))),$(call shell_quote,$(word)))
.DEFAULT_GOAL := help
.PHONY: help install run test lint format bench bench-step bench-trials bench-multiscale bench-search ui tune \
	dashboard clean services worker bench-workers

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-17s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(BIN)/python ## Create .venv/ and install the project (editable, with dev tools)
	$(BIN)/python -m pip install --quiet -e ".[dev]"

run: ## One style transfer on the bundled samples (overrides: make run image.size=128)
	$(BIN)/nst-sweep $(OVERRIDES) $(ARGS)

services: ## Install what the tests' real services need (PostgreSQL, Chromium; apt-get, as root) when missing
	@missing=""; ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="postgresql"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	if [ -z "$$missing" ]; then echo "PostgreSQL: $$(ls -d /usr/lib/postgresql/*/bin | tail -1); Chromium: $$(command -v chromium)"; \
	elif [ "$$(id -u)" != 0 ]; then echo "make services: missing$$missing; run it as root (sudo make services)" >&2; exit 2; \
	else apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing; fi

test: ## Run the test suite (CPU, tiny images, random weights; two pytest-xdist workers that steal work)
	@# The services first, when this user can install them; else their tests skip (fail in CI).
	@$(MAKE) --no-print-directory services || echo "make test: the tests that need them will skip (CI: fail)" >&2
	$(BIN)/python -m pytest -n 2 --dist worksteal $(ARGS)

lint: ## ruff lint + format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: ## ruff format + autofix
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: bench-step bench-trials bench-multiscale bench-search bench-workers ## All benchmarks below (about 2 hours on 2 cores)

bench-step: ## Seconds per Adam step at 128 px: project vs a tutorial-style loop, and with XLA
	$(BIN)/python benchmarks/bench_step.py $(ARGS)

bench-trials: ## Fixed cost per job of a 64 px multirun, with and without the per-process caches
	$(BIN)/python benchmarks/bench_trials.py $(ARGS)

bench-multiscale: ## Term balance by size; single- vs multi-scale at 256/512 px; preview vs final
	$(BIN)/python benchmarks/bench_multiscale.py $(ARGS)

bench-workers: ## Trials per hour of 1 and 2 workers on one study (64 px, one TF thread each)
	$(BIN)/python benchmarks/bench_workers.py $(ARGS)

bench-search: ## Plain search vs preview-and-promote at 256 px (time, best full-size score); pruners
	$(BIN)/python benchmarks/bench_search.py $(ARGS)

ui: ## MLflow UI over runs/mlflow.db on http://127.0.0.1:5000; prints each experiment's runs-table link
	$(BIN)/python -m nst_sweep.links $(ARGS)

tune: ## A small Optuna search of alpha/beta/gamma on the bundled samples (overrides: key=value)
	$(BIN)/nst-sweep -m search=optuna hydra.sweeper.n_trials=8 image.size=128 optimizer.steps=100 \
		$(OVERRIDES) $(ARGS)

worker: ## One more search worker on a shared study: STORAGE=postgresql://... TRACKING=http://... (ARGS=...)
	@test -n "$(STORAGE)" -a -n "$(TRACKING)" || { echo "make worker: pass STORAGE=<study database URL> TRACKING=<MLflow server URL>, e.g. STORAGE=postgresql://me@dbhost/optuna TRACKING=http://mlflow-host:5000" >&2; exit 2; }
	$(BIN)/nst-sweep -m search=optuna hydra.sweeper.storage=$(STORAGE) tracking.uri=$(TRACKING) \
		hydra.sweeper.sampler.seed=null $(OVERRIDES) $(ARGS)

dashboard: ## optuna-dashboard over runs/optuna.db on http://127.0.0.1:8080 (installs the extra)
	@test -s runs/optuna.db || { echo "runs/optuna.db has no study yet: run 'make tune' first" >&2; exit 2; }
	$(BIN)/python -m pip install --quiet -e ".[dashboard]"
	$(BIN)/optuna-dashboard sqlite:///runs/optuna.db --host 127.0.0.1 --port 8080

clean: ## Delete everything runs write (runs/ contents)
	find runs -mindepth 1 ! -name README.md -delete
