# The two commands of the README: `make run` (the demo) and `make test` (everything CI runs).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
DEMO_STAMP := $(VENV)/.demo-stamp
# The demo needs the broker, curl (its banner's example) and chuong; the tests also a browser, a
# compiler and their tools, and PostgreSQL (the tests start their own server: simulator/pgcluster.py).
DEMO_PACKAGES   := mosquitto mosquitto-clients curl
SYSTEM_PACKAGES := $(DEMO_PACKAGES) systemd chromium g++ libmbedtls-dev postgresql
# ESPHome validates the reference DIY button (devices/esphome/) in the tests. It pins paho-mqtt 1.x,
# which the hub cannot use, so it lives in a venv of its own.
ESPHOME_VERSION := 2026.6.5
ESPHOME_VENV    := .venv-esphome
ESPHOME         := $(ESPHOME_VENV)/bin/esphome

.PHONY: run test lint typecheck pytest proof bench install demo-install system-deps clean \
	install-post uninstall-post

# Options of the demo: make run ARGS="--http-port 8081"
ARGS ?=
run: demo-install
	$(BIN)/chuong demo $(ARGS)

# What the demo needs and no more: Mosquitto, and chuong without the test tools.
demo-install:
	@scripts/system-deps.sh $(DEMO_PACKAGES)
	@$(MAKE) --no-print-directory $(DEMO_STAMP)

$(DEMO_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	@touch $@

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
# 20 rounds of kill -9 during bursts, 20 kill -9 failovers from the active hub to its standby
# (PostgreSQL, docs/HA.md), 20 failovers from an active hub whose machine lost its power (its
# network held silent by a proxy, the hub frozen; docs/HA.md), 20 power cuts of broker and hub
# (every press from a repeating button recorded once), 6 power cuts with 3,000 open alarms checked on their retained topics,
# 100,000 heartbeats sent while the hub is down for a minute, a 100,000-message malformed flood, a
# one-minute broker outage, ten waves of 1,100 half-open HTTP connections.
# A test may take longer than the suite's usual 180 s limit here.
proof: install
	PROOF_KILL_ROUNDS=20 PROOF_FAILOVERS=20 PROOF_POWER_FAILOVERS=20 PROOF_POWER_CUTS=20 PROOF_TOPIC_CUTS=6 PROOF_HEARTBEATS=100000 PROOF_FLOOD=100000 PROOF_OUTAGE_S=60 PROOF_DOOR_WAVES=10 $(BIN)/pytest tests/faults -v --timeout 1200

# The full benchmark (several minutes; docs/BENCHMARKS.md). Options: make bench BENCH_ARGS="--only latency"
BENCH_ARGS ?=
bench: install
	@mkdir -p var
	$(BIN)/chuong sim bench --json var/bench.json $(BENCH_ARGS)

# A police post on this machine, as root (docs/INSTALL.md): the service, its user, its venv in
# /opt/chuong, its configs in /etc/chuong, the broker's config. Re-run to upgrade. DESTDIR=/tree
# installs into a tree. Uninstall keeps the data and configs unless PURGE=1.
install-post:
	DESTDIR='$(DESTDIR)' scripts/install-post.sh

uninstall-post:
	DESTDIR='$(DESTDIR)' scripts/install-post.sh --uninstall $(if $(PURGE),--purge)

clean:
	rm -rf $(VENV) $(ESPHOME_VENV) .mypy_cache .ruff_cache .pytest_cache
