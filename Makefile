# The two commands of the README: `make run` and `make test`. Everything else supports them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export FLEETKEY_DATA_DIR ?= $(CURDIR)/.fleetkey

.PHONY: run test install dev lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
dev: $(VENV)/.installed-dev

run: install
	$(BIN)/fleetkey migrate
	@echo ""
	@echo "fleetkey is starting on http://127.0.0.1:8080 (API docs at /docs)."
	@echo "Get an admin token for a tenant in another terminal with:"
	@echo "    FLEETKEY_DATA_DIR=$(FLEETKEY_DATA_DIR) $(BIN)/fleetkey token create --tenant default"
	@echo ""
	$(BIN)/fleetkey serve --host 127.0.0.1 --port 8080

test: dev
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/pytest -q

lint: dev
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

bench: dev
	$(BIN)/python -m bench.run
	$(BIN)/python -m bench.device_side --argon2 --bootstrap-pairs 20000 --privacyidea-tokens 400

clean:
	rm -rf $(VENV) .fleetkey .pytest_cache .mypy_cache .ruff_cache
