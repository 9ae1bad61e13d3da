# The two commands of the README: `make run` (the demo) and `make test` (everything CI runs).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
SYSTEM_PACKAGES := mosquitto mosquitto-clients systemd chromium g++ libmbedtls-dev
# ESPHome validates the reference DIY button (devices/esphome/) in the tests. It pins paho-mqtt 1.x,
# which the hub cannot use, so it lives in a venv of its own.
ESPHOME_VERSION := 2026.6.5
ESPHOME_VENV    := .venv-esphome
ESPHOME         := $(ESPHOME_VENV)/bin/esphome

.PHONY: run test lint typecheck pytest proof bench install system-deps clean

run: install
	$(BIN)/chuong demo

test: install $(ESPHOME) lint typecheck pytest

install: system-deps $(STAMP)

system-deps:
	@scripts/system-deps.sh $(SYSTEM_PACKAGES)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $@

$(ESPHOME):
	$(PYTHON) -m venv $(ESPHOME_VENV)
	$(ESPHOME_VENV)/bin/python -m pip install --quiet 'esphome==$(ESPHOME_VERSION)'

lint:
	$(BIN)/ruff check hub devices simulator tests
	$(BIN)/ruff format --check hub devices simulator tests

typecheck:
	$(BIN)/mypy

pytest:
	$(BIN)/pytest

# The long fault runs behind the README's figures (a short version of each is in `make test`):
# 20 rounds of kill -9 during bursts, a 100,000-message malformed flood, a one-minute broker outage.
# A test may take longer than the suite's usual 180 s limit here.
proof: install
	PROOF_KILL_ROUNDS=20 PROOF_POWER_CUTS=20 PROOF_HEARTBEATS=60000 PROOF_FLOOD=100000 PROOF_OUTAGE_S=60 $(BIN)/pytest tests/faults -v --timeout 1200

# The full benchmark (several minutes; docs/BENCHMARKS.md). Options: make bench BENCH_ARGS="--only latency"
BENCH_ARGS ?=
bench: install
	@mkdir -p var
	$(BIN)/chuong sim bench --json var/bench.json $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(ESPHOME_VENV) .mypy_cache .ruff_cache .pytest_cache
