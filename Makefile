# OmniSense Gateway. A newcomer needs two commands: `make run` and `make test` (README.md).
# Every target installs what is missing first: apt packages, the .venv from pyproject.toml, npm packages.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python

# Pure JS tests of static/js: every tests/js/**/*.test.mjs, run by `node --test` (no browser) in `make lint`.
JS_TESTS = $(shell find tests/js -name '*.test.mjs' 2>/dev/null | sort)

.PHONY: run test lint bench stack stop deps compiled clean-stack asterisk-background

## make run: the local stack, the demo URLs and a curl, then the service in the foreground (Ctrl-C stops all)
run: deps
	$(PY) -m devstack run

## make test: lint first, then the same set-up without the foreground service, then the whole test suite.
## A first Asterisk build (minutes, once per machine) starts before all of that and runs beside it.
## The suite runs on TEST_WORKERS pytest-xdist workers (most tests wait on a browser, a PBX or a timer; at most 3,
## tests/asterisk/conftest.py), then the tests marked `alone` (they stop a shared daemon) one at a time; exit
## status 5 is "none selected".
TEST_WORKERS ?= 2
test: asterisk-background lint
	$(PY) -m devstack up --with-browser --with-deploy-tools
	$(PY) -m pytest -n $(TEST_WORKERS) -m "not alone" $(PYTEST_ARGS)
	$(PY) -m pytest -m alone $(PYTEST_ARGS) || [ $$? -eq 5 ]
# The relay's fast tests again on its pure-Python modules (the compiled ones ran above, service/compiled.py).
	OMNISENSE_PURE_PYTHON=1 $(PY) -m pytest -q -m "not stack and not browser" tests/sip_proxy tests/test_compiled.py

## make lint: ruff, mypy (strict on service/) and the pure JS tests; nothing needs the stack
lint: deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(if $(JS_TESTS),node --test $(JS_TESTS),@echo "no JS tests under tests/js/")

## make bench: the benchmarks (not part of make test)
bench: deps
	$(PY) -m devstack up --with-bench-tools
	$(PY) -m bench

# Standard library only: it runs on the system Python, before the virtualenv exists.
asterisk-background:
	$(PYTHON) -m devstack.asterisk_build --background

## make stack / make stop: the local stack (MariaDB, Kamailio, coturn) in the background
stack: deps
	$(PY) -m devstack up

stop:
	@if [ -x $(PY) ]; then $(PY) -m devstack down; fi

deps: $(VENV)/.installed node_modules/.installed compiled

## make compiled: the relay's per-message modules built by mypyc into build/mypyc/<hash of their sources>/
## (about 10 s; nothing to do when that build exists; without a C compiler the service runs them pure)
compiled: $(VENV)/.installed
	$(PY) -m devstack.compile

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || \
	  { echo "Python 3.11 is needed (found $$($(PYTHON) --version)); set PYTHON=python3.11"; exit 1; }
# Debian ships the venv module without ensurepip (that is python3-venv): `venv --help` works, making one does not.
	@$(PYTHON) -c 'import ensurepip' >/dev/null 2>&1 || \
	  { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,load]'
	@touch $@

node_modules/.installed: package.json package-lock.json
	@command -v npm >/dev/null || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q npm; }
	npm ci --no-audit --no-fund
	@touch $@

## make clean-stack: stop the stack and forget its data (the demo database is made anew next time)
clean-stack: stop
	rm -rf .stack
