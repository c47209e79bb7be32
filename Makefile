# Boussole's commands. The two a new user needs:
#   make demo   set up, load demo data and run web + Celery worker + beat (SQLite, no Redis)
#   make test   install test needs and run the whole suite (plus ruff and a migrations check)

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: demo test setup test-setup migrate seed web worker lint messages bench bench-tiny clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

setup: $(PY)
	$(PY) -m pip install --quiet -e .

test-setup: $(PY)
	$(PY) -m pip install --quiet -e ".[test]"

migrate: setup
	$(PY) manage.py migrate --noinput

seed: migrate
	$(PY) manage.py seed_demo

# Web, worker and beat together in one terminal; Ctrl-C stops all three.
demo: seed
	@echo ""
	@echo "Boussole is starting at http://$(HOST):$(PORT)/  (Ctrl-C stops it)"
	@echo ""
	@$(VENV)/bin/celery -A config worker --beat --loglevel=warning --concurrency=2 & \
	worker=$$!; \
	trap 'kill -TERM $$worker 2>/dev/null; wait $$worker 2>/dev/null' EXIT; \
	trap 'exit 0' INT TERM; \
	$(PY) manage.py runserver --noreload $(HOST):$(PORT)

test: test-setup
	$(VENV)/bin/ruff check .
	$(PY) manage.py makemigrations --check --dry-run
	$(PY) -m pytest $(PYTEST_ARGS)

lint: test-setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# Regenerate the French catalogue's compiled .mo (needs GNU gettext).
messages: setup
	$(PY) manage.py makemessages -l fr --ignore=.venv --ignore=staticfiles
	$(PY) manage.py compilemessages -l fr --ignore=.venv

clean:
	rm -rf var staticfiles
