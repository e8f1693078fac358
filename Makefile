# `make run` and `make test` each set up everything they need on a fresh machine with Python
# 3.11 (a .venv with the project installed), then do their job. `make test` first runs `make
# deps`, which installs the Debian packages the suite needs when they are missing (chromium,
# redis-server, postgresql; through sudo when not root) and says so, then `make check`: ruff,
# the import rules (lint-imports, contracts in pyproject.toml) and mypy --strict, each of which
# fails the build (a few seconds; mypy keeps its cache in .mypy_cache).
# `make container-check` builds the Dockerfile and runs docker-compose.yml end to end (docker
# compose or podman-compose); .ci/run runs it after the tests.
PYTHON ?= python3.11
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: run test check deps container-check clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[test]'
	touch $(STAMP)

deps:
	@bash .ci/deps

run: $(STAMP)
	$(VENV)/bin/inbox serve

# All three run, so one run shows every problem; any of them fails the target.
check: $(STAMP)
	@status=0; \
	$(VENV)/bin/ruff check . || status=1; \
	$(VENV)/bin/lint-imports --no-logo || status=1; \
	$(VENV)/bin/mypy || status=1; \
	exit $$status

# On every core (pytest-xdist, `-n auto --dist loadgroup`): each worker starts its own
# PostgreSQL and Redis, and the browser tests all go to one worker, one after another
# (tests/conftest.py). On this project's 2 cores: 11.5 minutes, against about 16.5 serially
# (docs/performance.md, "The suite"). `.venv/bin/python -m pytest` runs it serially.
test: deps check
	$(VENV)/bin/python -m pytest -n auto --dist loadgroup

container-check:
	$(PYTHON) .ci/container_check.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .import_linter_cache .grimp_cache
