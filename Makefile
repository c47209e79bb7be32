# Boussole's commands. The two a new user needs:
#   make demo   set up, load demo data and run web + Celery worker + beat (SQLite, no Redis)
#   make test   install test needs and run the whole suite (plus ruff and a migrations check)

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: demo test setup test-setup migrate seed web worker lint messages bench bench-tiny bench-report clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# Installs run again only when pyproject.toml changed since the last one (a
# stamp file in the venv), so `make demo` restarts offline, in seconds.
$(VENV)/.installed: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@ $(VENV)/.installed

setup: $(VENV)/.installed

test-setup: $(VENV)/.installed-test

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

# Benchmarks (docs/benchmarks.md): KPI recompute, pages and survey submissions
# against their floors, and every list and page under concurrent load.
# SIZE=tiny|S|M, DB=postgres|sqlite; BENCH_DB names the bench database (its
# own: wiped); REDIS_URL puts the rate limiter, sessions and broker on Redis.
# Needs wrk for the load and submissions steps (Debian: apt-get install -y wrk).
# `make bench-report` rewrites docs/benchmarks.md from bench-results/.
SIZE ?= S
DB ?= postgres
BENCH_ARGS ?=

bench: test-setup
	$(PY) -m pip install --quiet -e ".[bench]"
	$(PY) -m bench.run --size $(SIZE) --db $(DB) $(BENCH_ARGS)
	$(PY) -m bench.report

bench-tiny: test-setup
	$(PY) -m bench.run --size tiny --db sqlite --runs 1 --requests 5 --seconds 2

bench-report: setup
	$(PY) -m bench.report

clean:
	rm -rf var staticfiles $(VENV)/.installed $(VENV)/.installed-test
