# The README's commands. `make run` and `make test` work on a fresh clone: both create
# .venv and install every distribution editable first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
DISTS := core server plugins/subprocess plugins/http plugins/llm_openai plugins/auth0
PYPROJECTS := pyproject.toml $(foreach d,$(DISTS),$(d)/pyproject.toml)
HOST ?= 127.0.0.1
PORT ?= 8000
# Processes `make test` spreads the test files over (pytest-xdist: a file's tests run in one, in
# order, as they would alone); 0 runs them all in this process.
# Most tests wait on servers, programs and services, so more than the two cores pay.
TEST_WORKERS ?= 3

.PHONY: install run test lint bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(PY) $(PYPROJECTS)
	$(PY) -m pip install --quiet --upgrade "pip>=25.1"
	$(PY) -m pip install --quiet $(foreach d,$(DISTS),-e $(d)) --group dev
	touch $(STAMP)

install: $(STAMP)

# Development server: embedded SQLite store and queue in ./.runwire, the example task config
# mounted at /task, examples/bin as the execute directory, and the bootstrap API key
# "dev-key" unless RUNWIRE_API_KEYS is set. Production: run `runwire serve` with real settings.
run: install
	@echo "runwire: http://$(HOST):$(PORT)  (X-Api-Key: $${RUNWIRE_API_KEYS:-dev-key})"
	RUNWIRE_API_KEYS="$${RUNWIRE_API_KEYS:-dev-key}" \
	RUNWIRE_TASK_CONFIG="$${RUNWIRE_TASK_CONFIG:-examples/task/config.json}" \
	RUNWIRE_EXECUTABLES_DIR="$${RUNWIRE_EXECUTABLES_DIR:-examples/bin}" \
	$(VENV)/bin/runwire serve --host $(HOST) --port $(PORT)

test: install
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# The same checks as .pre-commit-config.yaml. mypy checks the `files` of [tool.mypy] in
# pyproject.toml: core and the plugins strictly, the server on its baseline.
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# Issue #17's figures, each next to its floor: engine.py (target 1), start.py (2, 3), tasks.py
# (4, 5), api.py (6, 7; Redis and RabbitMQ are skipped, saying so, when not running),
# instructions.py (server instructions per request, by callgrind: steady on a shared machine).
bench: install
	$(PY) bench/engine.py
	$(PY) bench/start.py
	$(PY) bench/check.py
	$(PY) bench/api.py --modes embedded,redis,rabbitmq
	$(PY) bench/tasks.py
	$(PY) bench/instructions.py
	$(PY) bench/limits.py
	$(PY) bench/scaling.py --runs 200  # needs Redis and PostgreSQL; ~2 min
	$(PY) bench/queue_memory.py --runs 1000  # the 10,000-run figure: no --runs (~20 min)
	$(PY) bench/recovery.py --kills 5  # needs Redis and PostgreSQL; ~1 min (docs/server.md: --kills 20)

clean:
	rm -rf $(VENV) .runwire .pytest_cache
