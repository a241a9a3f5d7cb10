# Two commands matter: `make demo` (embedded servers, no setup) and `make test` (local PostgreSQL + Redis).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

# Tests use the real local servers; CI exports the same values.
export DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/robocall
export REDIS_URL ?= redis://127.0.0.1:6379/0
export SECRET_KEY ?= insecure-key-for-local-tests-only

.PHONY: install install-dev demo serve test lint format

$(VENV)/.runtime: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(BIN)/pip install -q --disable-pip-version-check -r requirements-dev.txt
	touch $@

install: $(VENV)/.runtime
install-dev: $(VENV)/.dev

demo: install  ## a campaign to 20 virtual callees through real Celery workers, on embedded PostgreSQL + Redis
	unset DATABASE_URL REDIS_URL SECRET_KEY; $(BIN)/python -m project.demo run

serve: install  ## the demo's dashboard and admin on http://127.0.0.1:8000/ (after make demo)
	unset DATABASE_URL REDIS_URL SECRET_KEY; $(BIN)/python -m project.demo serve

test: install-dev lint  ## the whole suite against PostgreSQL and Redis
	$(BIN)/pytest

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .
