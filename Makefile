# The two commands of the README are `make run` and `make test`; the rest are their parts.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: help run serve test lint typecheck migrations-check test-sqlite test-postgres bench clean

help:
	@echo "make run    – the back office on http://127.0.0.1:8000 (SQLite under var/, demo data, task worker)"
	@echo "make test   – lint, types, migrations check, tests on SQLite and on a throwaway PostgreSQL"
	@echo "make bench  – benchmarks on a throwaway PostgreSQL, results in docs/benchmarks.md"

# A Python 3.12+ interpreter: pyenv's shims pick the version of .python-version; else the
# newest python3.1x on PATH.
$(PY):
	@set -e; for c in python3 python3.13 python3.12; do \
	  if command -v $$c >/dev/null 2>&1 && $$c -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then \
	    echo "Creating $(VENV) with $$($$c --version)"; $$c -m venv $(VENV); exit 0; fi; \
	done; \
	echo "Python 3.12 or newer is required (pyenv install 3.12, or python3.12 on PATH)" >&2; exit 1

$(STAMP): requirements.lock | $(PY)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	@touch $@

var:
	@mkdir -p var

run: $(STAMP) | var
	$(PY) manage.py migrate --noinput
	$(PY) manage.py createcachetable
	$(PY) manage.py seed_demo
	@echo
	@echo "  Back office:  http://127.0.0.1:8000/admin/   (support / demo, lead / demo)"
	@echo "  Owner portal: http://127.0.0.1:8000/portal/  (owner / demo)"
	@echo
	@# The task worker (list checks) runs beside the server and stops with it (Ctrl+C included).
	$(PY) manage.py db_worker --no-reload & worker=$$!; \
	trap 'kill $$worker 2>/dev/null; wait $$worker 2>/dev/null' EXIT INT TERM; \
	$(PY) manage.py runserver 127.0.0.1:8000

# Production-like: gunicorn (config/gunicorn.py) against DATABASE_URL, static files by
# whitenoise, and the task worker beside it. Needs the production environment of docs/deploy.md.
serve: $(STAMP) | var
	$(PY) manage.py migrate --noinput
	$(PY) manage.py createcachetable
	$(PY) manage.py collectstatic --noinput -v0
	$(PY) manage.py db_worker --no-reload & worker=$$!; \
	trap 'kill $$worker 2>/dev/null; wait $$worker 2>/dev/null' EXIT INT TERM; \
	$(VENV)/bin/gunicorn config.wsgi -c config/gunicorn.py

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy .

migrations-check: $(STAMP)
	DATABASE_URL=sqlite:///:memory: $(PY) manage.py makemigrations --check --dry-run

test-sqlite: $(STAMP)
	DATABASE_URL=sqlite:///var/test.sqlite3 $(VENV)/bin/pytest $(PYTEST_ARGS)

test-postgres: $(STAMP)
	scripts/with-postgres $(VENV)/bin/pytest $(PYTEST_ARGS)

test: lint typecheck migrations-check test-sqlite test-postgres

bench: $(STAMP)
	scripts/with-postgres $(PY) -m bench

clean:
	rm -rf $(VENV) var test-output
