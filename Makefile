# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
FLASK  := $(VENV)/bin/flask --app wsgi

.PHONY: run test lint migrate clean

$(VENV)/.installed: requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	@touch $@

$(VENV)/.installed-dev: requirements-dev.txt $(VENV)/.installed
	$(PY) -m pip install -q -r requirements-dev.txt
	@touch $@

## Start web, workers, embedded Redis and the development SMTP catcher in the foreground.
run: $(VENV)/.installed
	$(FLASK) db upgrade
	$(FLASK) users ensure-admin
	$(PY) -m app.devrun

## Run the whole test suite (SQLite by default; PostgreSQL when TEST_DATABASE_URL is set).
test: $(VENV)/.installed-dev
	$(VENV)/bin/pytest -q $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .

migrate: $(VENV)/.installed
	$(FLASK) db upgrade

clean:
	rm -rf $(VENV) instance .pytest_cache
