# `make run`, `make demo` and `make test` set everything up from a fresh clone (Python 3.11+).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip
CONFIG ?= feeds.yaml
# Debian packages the tests need (installed by `make test` when missing).
SYSTEM_PACKAGES ?= chromium

DEMO_ARGS ?=

.PHONY: run demo test lint typecheck pytest bench setup setup-dev system-deps clean lock

# The stamps depend on the dependency files, so editing them reinstalls.
$(VENV)/.runtime: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --disable-pip-version-check --upgrade pip
	$(PIP) install --quiet --disable-pip-version-check -c constraints.txt -e .
	touch $@

$(VENV)/.dev: $(VENV)/.runtime
	$(PIP) install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $@

$(VENV)/.demo: $(VENV)/.runtime
	$(PIP) install --quiet --disable-pip-version-check -c constraints.txt -e '.[demo]'
	touch $@

$(VENV)/.bench: $(VENV)/.dev
	$(PIP) install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev,bench]'
	touch $@

setup: $(VENV)/.runtime
setup-dev: $(VENV)/.dev

## run: set up, migrate the SQLite database and start the daemon on feeds.yaml
run: setup
	$(BIN)/aggregator --config $(CONFIG) db upgrade
	exec $(BIN)/aggregator --config $(CONFIG) run

## demo: replay a dozen sample outlets on 127.0.0.1 and run the daemon on them, with a
## local mailbox for its alerts; no internet needed, Ctrl-C stops everything
demo: $(VENV)/.demo
	$(BIN)/python -m aggregator.demo $(DEMO_ARGS)

## test: set up with the development tools, then lint, type-check and run every test
test: setup-dev system-deps
	$(BIN)/ruff check aggregator tests benchmarks db
	$(BIN)/ruff format --check aggregator tests benchmarks db
	$(BIN)/mypy aggregator
	$(BIN)/python -m pytest

lint: setup-dev
	$(BIN)/ruff check aggregator tests benchmarks db
	$(BIN)/ruff format --check aggregator tests benchmarks db

typecheck: setup-dev
	$(BIN)/mypy aggregator

pytest: setup-dev
	$(BIN)/python -m pytest

## bench: the benchmarks, each printing its figures beside a baseline from the same run
bench: $(VENV)/.bench
	@bash .ci/system-deps.sh newsboat wrk
	$(BIN)/python benchmarks/run_all.py $(BENCH)

# Debian packages the tests use; installed only where missing (needs root + apt).
system-deps:
	@bash .ci/system-deps.sh $(SYSTEM_PACKAGES)

## lock: re-pin constraints.txt from the current virtualenv
lock:
	$(PIP) freeze --exclude-editable --disable-pip-version-check | grep -v '^aggregator' > constraints.txt

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache build *.egg-info
