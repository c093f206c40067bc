# `make demo` and `make test` work on a fresh machine: they create .venv and install the
# project (editable, with test extras) when it is missing or older than pyproject.toml.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

export TF_CPP_MIN_LOG_LEVEL ?= 2

# import-linter cannot see through the editable install's import hook, so it reads a
# symlinked `tfapps/` tree that mirrors the package-dir mapping.
LINT_ROOT := build/lint-root
LINT_IMPORTS := mkdir -p $(LINT_ROOT)/tfapps && for d in apps models pipelines serving; do ln -sfn $(CURDIR)/$$d $(LINT_ROOT)/tfapps/$$d; done && PYTHONPATH=$(LINT_ROOT) $(BIN)/lint-imports

.PHONY: install demo test test-all lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python bench/demo.py

test: $(STAMP)
	$(BIN)/ruff check apps models pipelines serving tests bench
	$(LINT_IMPORTS)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Everything, the slow tests included.
test-all: $(STAMP)
	$(BIN)/python -m pytest -m '' $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check apps models pipelines serving tests bench
	$(BIN)/ruff format --check apps models pipelines serving tests bench
	$(LINT_IMPORTS)

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache
