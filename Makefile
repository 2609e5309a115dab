# The two commands: `make run` (try the portal) and `make test` (what CI runs).
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

VENV := .venv
BIN := $(VENV)/bin
# Extra pytest arguments, e.g. make test-services PYTEST_ARGS="-x -k publish"
PYTEST_ARGS ?=
# Most tests wait on PostgreSQL, subprocesses and servers rather than the CPU, so
# more workers than the two cores still pay off (each gets its own data folder
# and test database).
PYTEST_WORKERS ?= 4
PYTEST := $(BIN)/pytest -p no:cacheprovider
SERVICE_VARS := DATABASE_URL REDIS_URL ELASTICSEARCH_URL S3_ENDPOINT_URL

.PHONY: help install run services services-stop lint test test-services test-smoke bench

help:
	@echo "make run            the portal on embedded defaults at http://127.0.0.1:8000/"
	@echo "make test           install, services up, lint, tests on the services, smoke tests"
	@echo "make install        Debian packages and the Python venv (idempotent)"
	@echo "make services       PostgreSQL, Redis, Elasticsearch, S3 on loopback (services-stop)"
	@echo "make lint           ruff check, ruff format --check, mypy"
	@echo "make test-services  pytest against the services;  make test-smoke: embedded defaults"
	@echo "make bench          every bench/*.py against the services"

install:
	@scripts/install.sh

run:
	@scripts/run.sh

services:
	@scripts/services.sh up

services-stop:
	@scripts/services.sh stop

lint:
	@echo "==> ruff check"
	@$(BIN)/ruff check .
	@echo "==> ruff format --check"
	@$(BIN)/ruff format --check .
	@echo "==> mypy"
	@$(BIN)/mypy .

# THE test command. Each step stops the run when it fails.
test:
	@start=$$SECONDS; \
	scripts/install.sh; \
	scripts/services.sh up; \
	$(MAKE) --no-print-directory lint; \
	$(MAKE) --no-print-directory test-services; \
	$(MAKE) --no-print-directory test-smoke; \
	echo "==> make test passed in $$((SECONDS - start))s"

# The whole suite against the real services, in a fresh data folder. One run at a
# time per services folder: two runs would share the test databases, the indices
# and the buckets. (flock -o: servers a test leaves behind do not keep the lock.)
test-services:
	@eval "$$(scripts/services.sh env)"; \
	export PORTAL_DATA_DIR=$$(mktemp -d /tmp/ops-market-test.XXXXXX); \
	lock="$${OPSMARKET_SERVICES_DIR:-/var/tmp/ops-market-services}/.pytest.lock"; \
	mkdir -p "$${lock%/*}"; \
	flock -n -o "$$lock" true || echo "==> waiting for another test run on the services"; \
	echo "==> pytest on PostgreSQL, Redis, Elasticsearch, S3 (data in $$PORTAL_DATA_DIR)"; \
	flock -o "$$lock" $(PYTEST) -n $(PYTEST_WORKERS) $(PYTEST_ARGS); \
	rm -rf "$$PORTAL_DATA_DIR"

# The tests marked smoke on the embedded defaults (SQLite, no Redis, no
# Elasticsearch): what `make run` relies on.
test-smoke:
	@unset $(SERVICE_VARS); \
	export PORTAL_DATA_DIR=$$(mktemp -d /tmp/ops-market-smoke.XXXXXX); \
	echo "==> pytest on embedded defaults (data in $$PORTAL_DATA_DIR)"; \
	$(PYTEST) -n $(PYTEST_WORKERS) -m "smoke and not services and not browser" $(PYTEST_ARGS); \
	rm -rf "$$PORTAL_DATA_DIR"

bench:
	@scripts/services.sh up; \
	eval "$$(scripts/services.sh env)"; \
	shopt -s nullglob; scripts=(bench/[a-z]*.py); \
	if (( $${#scripts[@]} == 0 )); then echo "==> no bench/*.py scripts yet"; exit 0; fi; \
	for script in "$${scripts[@]}"; do \
		echo "==> $$script"; \
		PORTAL_DATA_DIR=$$(mktemp -d /tmp/ops-market-bench.XXXXXX) $(BIN)/python "$$script"; \
	done
