# make run  — set up everything and serve on http://127.0.0.1:8000 (SQLite, in-memory layer, offline writer)
# make test — set up everything and run the checks and the test suite, on the embedded default
#             and again on PostgreSQL + Redis (make test-services), then docker-compose.yml on a
#             real container engine (make test-compose)
PYTHON := $(shell bin/find-python)
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# make test-services: the suite on these (pytest-django creates and drops test_<name>).
SERVICES_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/nikki_test_base
SERVICES_REDIS_URL ?= redis://127.0.0.1:6379/1

.PHONY: run test test-services test-compose migrations-check compose-check lint format install migrate bench bench-pages bench-import clean

# pip's -qq: errors only. Its warnings (one per package and per index location a machine's pip
# configuration names that is not there, for instance) would bury the two lines that matter.
PIP := $(BIN)/python -m pip --disable-pip-version-check -qq

$(BIN)/python:
	@echo "== making a virtual environment in $(VENV) with $(PYTHON)"
	@$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	@echo "== installing Nikki and its dependencies (pyproject.toml) into $(VENV)"
	@$(PIP) install --upgrade pip
	@$(PIP) install -e '.[dev]'
	@touch $@

install: $(VENV)/.installed

# MIGRATE_VERBOSITY=1 lists each migration as it is applied.
MIGRATE_VERBOSITY ?= 0

migrate: install
	@mkdir -p var
	@echo "== bringing the databases up to date (migrations)"
	@DJANGO_DEBUG=$${DJANGO_DEBUG:-true} $(BIN)/python manage.py migrate --database keys --noinput -v $(MIGRATE_VERBOSITY)
	@DJANGO_DEBUG=$${DJANGO_DEBUG:-true} $(BIN)/python manage.py migrate --noinput -v $(MIGRATE_VERBOSITY)

run: migrate
	@echo "== Nikki is starting: open http://$(HOST):$(PORT)/ (Ctrl-C stops it)"
	@DJANGO_DEBUG=$${DJANGO_DEBUG:-true} $(BIN)/python -m diary_project.serve -b $(HOST) -p $(PORT) diary_project.asgi:application

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

migrations-check: install
	mkdir -p var
	DJANGO_DEBUG=true $(BIN)/python manage.py makemigrations --check --dry-run

# Every test, on SQLite and the in-memory layer (tests/unit, and tests/live whose PostgreSQL +
# Redis tier starts its own daphnes on them), then the suite again on PostgreSQL and Redis, then
# the compose tier.
test: lint migrations-check
	$(BIN)/python -m pytest $(PYTEST_ARGS)
	@$(MAKE) --no-print-directory test-services
	@$(MAKE) --no-print-directory test-compose

# Skipped when PostgreSQL or Redis does not answer on this machine; never in CI (CI set).
test-services: install
	@if $(BIN)/python -c 'import socket, sys, urllib.parse as p; [socket.create_connection((p.urlsplit(u).hostname, p.urlsplit(u).port), timeout=3).close() for u in sys.argv[1:]]' \
	        '$(SERVICES_DATABASE_URL)' '$(SERVICES_REDIS_URL)' 2>/dev/null; then \
	    echo "== the suite on $(SERVICES_DATABASE_URL) and $(SERVICES_REDIS_URL)"; \
	    DATABASE_URL='$(SERVICES_DATABASE_URL)' REDIS_URL='$(SERVICES_REDIS_URL)' \
	        $(BIN)/python -m pytest -m 'not pg_redis and not browser and not compose' $(PYTEST_ARGS); \
	elif [ -n "$$CI" ]; then \
	    echo "test-services: PostgreSQL or Redis does not answer ($(SERVICES_DATABASE_URL), $(SERVICES_REDIS_URL))" >&2; \
	    exit 1; \
	else \
	    echo "test-services: skipped: nothing answers at $(SERVICES_DATABASE_URL) or $(SERVICES_REDIS_URL)"; \
	fi

# The compose tier (tests/live/test_compose_stack.py), once: docker-compose.yml built and run on
# a real engine. Skipped when no Docker engine answers here, never in CI (CI set). Without an
# image registry, build the base images first: docker/local-images/build.sh (.ci/run does).
test-compose: install
	@if docker info >/dev/null 2>&1; then \
	    echo "== the compose tier (docker-compose.yml on the local Docker engine)"; \
	    $(BIN)/python -m pytest -m compose tests/live/test_compose_stack.py $(PYTEST_ARGS); \
	elif [ -n "$$CI" ]; then \
	    echo "test-compose: no Docker engine answers (docker info fails)" >&2; \
	    exit 1; \
	else \
	    echo "test-compose: skipped: no Docker engine answers here (start dockerd, or Docker Desktop)"; \
	fi

# docker-compose.yml against Debian's docker-compose (1.29) schema; no Docker engine needed.
compose-check:
	docker-compose -f docker-compose.yml config -q
	docker-compose -f docker-compose.yml --profile llm config -q

bench: install
	$(BIN)/python bench/stream_bench.py $(BENCH_ARGS)

# The pages on a 15-year diary (issue 16), on SQLite; add PostgreSQL and other checkouts with
# BENCH_ARGS='--database-url postgres://postgres@127.0.0.1:5432/nikki_bench --checkout ../other --checkout .'
bench-pages: install
	$(BIN)/python bench/pages_bench.py $(BENCH_ARGS)

# Import of a 15-year diary (8,000 entries) and its streaming export; BENCH_ARGS as above
# (--entries N, --database-url postgres://...).
bench-import: install
	$(BIN)/python bench/import_bench.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var/*.sqlite3
