# OpenVRM: `make run` sets everything up and starts VRM; `make test` sets up and runs the suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: setup system test-system assets services media run test lint format bench clean

setup: system $(INSTALLED) assets

system:
	@scripts/setup-system.sh

# What only the tests need on top: Debian's Chromium for the browser tests.
test-system:
	@scripts/setup-system.sh test

# The WebUI's browser libraries from the npm registry into web/static/vendor (git-ignored).
assets:
	@scripts/web-assets.sh

$(INSTALLED): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

# libvirtd (qemu:///system) and Open vSwitch for the local node and the tests.
services:
	@scripts/node-services.sh

# The tiny test guest (var/test-media/tiny.iso), built from Debian packages; cached.
media:
	@scripts/build-test-media.sh

run: setup
	@scripts/run-local.sh

test: setup test-system services media
	$(BIN)/pytest

# Benchmarks (minutes each; not part of `make test`): figures go to docs/benchmarks.md.
bench: setup services
	$(BIN)/python -m bench.placement --db sqlite
	$(BIN)/python -m bench.placement --db postgresql
	$(BIN)/python -m bench.api --db sqlite --json var/bench-api-sqlite.json
	$(BIN)/python -m bench.api --db postgresql --json var/bench-api-postgresql.json
	$(BIN)/python -m bench.vm_create
	$(BIN)/python -m bench.upload
	$(BIN)/python -m bench.migration

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy vrm cna_agent

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
