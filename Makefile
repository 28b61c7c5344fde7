# driftline: two commands set everything up on a fresh machine.
#   make run   - create .venv, install, run the job on the built-in drifting stream
#   make test  - create .venv, install with test extras, run the whole test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
TSTAMP := $(VENV)/.installed-test

.PHONY: run test lint typecheck bench bench-quick soak example screenshot clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(TSTAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@ $(STAMP)

run: $(STAMP)
	$(BIN)/driftline run $(ARGS)

# a team's own project (events, model factory, feature function, rule) on River's Phishing data
example: $(STAMP)
	$(BIN)/python examples/phishing/make_data.py
	$(BIN)/driftline run -c examples/phishing/phishing.toml --plugins examples/phishing $(ARGS)

test: $(TSTAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest -q $(PYTEST_ARGS)

# docs/live.png: the live page of a run on the built-in stream, in headless Chromium
screenshot: $(TSTAMP)
	$(BIN)/python -m tests.support.live_tools docs/live.png

typecheck: $(TSTAMP)
	$(BIN)/mypy

bench: $(TSTAMP)
	$(BIN)/python -m bench.run $(BENCH_ARGS)

bench-quick: $(TSTAMP)
	$(BIN)/python -m bench.run --quick $(BENCH_ARGS)

# the Kafka job at half its maximum throughput for an hour (not part of `make test`);
# SOAK_ARGS="--minutes 5" for a shorter run, "--rate N" to skip calibration
soak: $(TSTAMP)
	$(BIN)/python -m bench.soak $(SOAK_ARGS)

lint: $(TSTAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check flows connectors evaluation

clean:
	rm -rf $(VENV) out .pytest_cache .ruff_cache
