# The two commands: `make run` (the whole system on this machine) and `make test`.
SHELL := /bin/bash
export UV_PYTHON_DOWNLOADS := never
export PATH := $(HOME)/.local/bin:$(PATH)
PYTHON := .venv/bin/python

.PHONY: run test test-unit bench lint chaos

run:
	@scripts/bootstrap.sh
	@$(PYTHON) -m khabar_dev.run

# Against a running `make run`: kills, withdrawals, a cache outage, trim and reindex; prints counts.
chaos:
	@$(PYTHON) -m khabar_dev.chaos

test:
	@scripts/bootstrap.sh --test
	@$(PYTHON) -m pytest

test-unit:
	@scripts/bootstrap.sh
	@$(PYTHON) -m pytest tests/unit

# Style and types: the same checks as .pre-commit-config.yaml, on the whole tree.
lint:
	@scripts/bootstrap.sh
	@.venv/bin/ruff format --check .
	@.venv/bin/ruff check .
	@.venv/bin/mypy shared/khabar_shared

bench:
	@scripts/bootstrap.sh
	@$(PYTHON) -m bench.pipeline
