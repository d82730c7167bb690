# hum-search: find a song in your music collection by humming it.
#
#   make run     set everything up, then index MUSIC (or a rendered demo collection) and start the app
#   make test    set everything up (plus test tools) and run the tests
#
# Variables (give them on the command line, e.g. `make run MUSIC=~/Music PORT=8502`):
#   MUSIC        music folder to index and serve   (default: $HUM_SEARCH_MUSIC_ROOT, else the demo collection)
#   STORE        index location: a folder, or an Elasticsearch URL
#                                                  (default: $HUM_SEARCH_STORE, else $HUM_SEARCH_ES_URL, else .hum-search/index)
#   HOST, PORT   address of the web app            (default: 127.0.0.1 and 8501)
#   DEMO_DIR     where the demo collection goes    (default: demo-music)
#   ENGINE       demo renderer: auto, fluidsynth, additive (default: auto)
#   PYTHON       interpreter for the virtualenv    (default: python3; needs 3.11)
#   VENV         virtualenv folder                 (default: .venv)
#   PYTEST_ARGS  extra pytest arguments, e.g. PYTEST_ARGS="-k demo -x"
#
# `make setup` is idempotent and quick once done: the Python packages are installed again only when
# requirements.txt, requirements-dev.txt or pyproject.toml change (stamp files in the venv).

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
MUSIC ?= $(HUM_SEARCH_MUSIC_ROOT)
STORE ?= $(or $(HUM_SEARCH_STORE),$(HUM_SEARCH_ES_URL),.hum-search/index)
HOST ?= 127.0.0.1
PORT ?= 8501
DEMO_DIR ?= demo-music
ENGINE ?= auto
PYTEST_ARGS ?=

VENV_PY := $(VENV)/bin/python
PIP := $(VENV_PY) -m pip install --no-deps --disable-pip-version-check --progress-bar off
HASH = $(shell cat $(1) 2>/dev/null | { sha256sum 2>/dev/null || shasum -a 256; } | cut -c1-12)
SETUP_STAMP := $(VENV)/.stamp-setup-$(call HASH,requirements.txt pyproject.toml)
TEST_STAMP := $(VENV)/.stamp-test-$(call HASH,requirements.txt requirements-dev.txt pyproject.toml)

.PHONY: help setup system-deps venv run demo test test-deps lock clean distclean

help:
	@sed -n '1,19p' Makefile | sed 's/^# \{0,1\}//'

## setup: system packages (apt, when missing), the virtualenv, the pinned Python packages, hum-search itself
setup: system-deps $(SETUP_STAMP)

system-deps:
	@bash scripts/install-system-deps.sh

$(VENV_PY):
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] < (3, 11))' || \
	  { echo "error: $(PYTHON) is older than Python 3.11. Fix: make PYTHON=python3.11 ..." >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)

venv: $(VENV_PY)

$(SETUP_STAMP): | $(VENV_PY)
	$(PIP) -r requirements.txt
	$(PIP) -e .
	@rm -f $(VENV)/.stamp-setup-*
	@touch $@

## run: index MUSIC (or render and index the demo collection) and start the web app
run: setup
	@MUSIC="$(MUSIC)" STORE="$(STORE)" HOST="$(HOST)" PORT="$(PORT)" DEMO_DIR="$(DEMO_DIR)" ENGINE="$(ENGINE)" \
	  VENV="$(VENV)" bash scripts/run.sh

## demo: render the demo collection and example hums into DEMO_DIR (FORCE=1 renders again)
demo: setup
	$(VENV)/bin/hum-search demo --out $(DEMO_DIR) --engine $(ENGINE) $(if $(FORCE),--force)

## test: everything for run, plus chromium and the test packages; then the whole test suite
test: setup test-deps
	$(VENV_PY) -m pytest -q $(PYTEST_ARGS)

test-deps: $(TEST_STAMP)
	@bash scripts/install-system-deps.sh --test

$(TEST_STAMP): $(SETUP_STAMP)
	$(PIP) -r requirements-dev.txt
	@rm -f $(VENV)/.stamp-test-*
	@touch $@

## lock: rewrite requirements*.txt from the packages installed in the venv
lock:
	$(VENV_PY) scripts/lock-requirements.py

## clean: caches, the demo collection and the local index (not the venv, not your MUSIC)
clean:
	rm -rf .pytest_cache build dist *.egg-info $(DEMO_DIR) .hum-search
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +

## distclean: clean, and the virtualenv too
distclean: clean
	rm -rf $(VENV)
