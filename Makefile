# Every target bootstraps first, so a fresh Debian machine needs nothing but this repository.
PYTHON := .venv/bin/python

.PHONY: bootstrap test run lint

bootstrap:
	scripts/bootstrap

test: bootstrap
	$(PYTHON) -m pytest

run: bootstrap
	$(PYTHON) daemon.py

lint: bootstrap
	$(PYTHON) -m ruff check .
	$(PYTHON) -m mypy
