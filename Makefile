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
# Types: every package that ships or operates (shared, the services, the CLI and dev tools).
TYPED := shared/khabar_shared services/ingest/khabar_ingest services/enrich/khabar_enrich \
	services/render/khabar_render services/search/khabar_search tools/cli/khabar_cli \
	tools/dev/khabar_dev
lint:
	@scripts/bootstrap.sh
	@.venv/bin/ruff format --check .
	@.venv/bin/ruff check .
	@.venv/bin/mypy $(TYPED)

bench:
	@scripts/bootstrap.sh --bench
	@$(PYTHON) -m bench.pipeline
