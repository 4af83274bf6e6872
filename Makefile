# The two set-up commands: `make run` and `make test` (README). Everything else is optional.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000

.PHONY: run test lint clean-var backup restore bench

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || { python=$$(bin/find-python) && echo "Creating $(VENV) with $$python" && $$python -m venv $(VENV); }
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

# Embedded mode: SQLite under var/, no Redis, Daphne + Celery worker + beat in one process and
# the simulator beside it. REDIS_URL and DATABASE_URL are ignored here (that is production).
run: $(VENV)/.installed
	@mkdir -p var
	@test -s var/secret_key || $(PY) -c 'import secrets; print(secrets.token_urlsafe(50))' > var/secret_key
	@env -u REDIS_URL -u DATABASE_URL \
		SECRET_KEY="$$(cat var/secret_key)" HTTPS=0 DEBUG=$${DEBUG:-0} \
		EMAIL_BACKEND=$${EMAIL_BACKEND:-django.core.mail.backends.console.EmailBackend} \
		$(PY) manage.py run_embedded --port $(PORT)

# Every test. With DATABASE_URL / REDIS_URL set it runs against them (.ci/run does).
test: $(VENV)/.installed
	$(PY) -m pytest $(PYTEST_ARGS)

# Every bench against a real stack (PostgreSQL ops_bench, Redis), one table at the end; short
# versions by default, BENCH_ARGS=--full for the long ones (README "Benchmarks"). Not in `test`.
bench: $(VENV)/.installed
	$(PY) bench/run_all.py $(BENCH_ARGS)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .

# The console's own database, in the mode it runs in: DATABASE_URL if set (pg_dump/pg_restore),
# else the embedded SQLite under var/. `make backup [FILE=path]`, `make restore FILE=path
# [REPLACE=1]` (a restore goes into an empty database unless REPLACE=1). README: "Backups".
KEY_ENV = $$(test -n "$$SECRET_KEY" || test ! -s var/secret_key || echo SECRET_KEY="$$(cat var/secret_key)")

backup: $(VENV)/.installed
	@env $(KEY_ENV) $(PY) manage.py backup_db $(if $(FILE),--output "$(FILE)")

restore: $(VENV)/.installed
	@test -n "$(FILE)" || { echo "usage: make restore FILE=<backup file> [REPLACE=1]"; exit 2; }
	@env $(KEY_ENV) $(PY) manage.py restore_db "$(FILE)" $(if $(REPLACE),--replace)
