# `make demo` and `make test` work on a fresh machine: they create .venv and install the
# project (editable, with test extras) when it is missing or older than pyproject.toml.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

export TF_CPP_MIN_LOG_LEVEL ?= 2

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
	$(BIN)/lint-imports
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Everything, the slow tests included.
test-all: $(STAMP)
	$(BIN)/python -m pytest -m '' $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check apps models pipelines serving tests bench
	$(BIN)/ruff format --check apps models pipelines serving tests bench
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache
