# The commands people type. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
CERTS_DIR ?= certs/generated
export MTLS_PKI_DIR := $(CERTS_DIR)
PYTEST_ARGS ?=

STAMP := $(VENV)/.installed

.PHONY: help
help: ## List the targets
	@if [ -t 1 ]; then on=$$'\033[36m'; off=$$'\033[0m'; else on=; off=; fi; \
	awk -v on="$$on" -v off="$$off" 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / \
	  {printf "  %s%-14s%s %s\n", on, $$1, off, $$2}' $(MAKEFILE_LIST)

# ---------------------------------------------------------------- setup
$(STAMP): pyproject.toml $(wildcard shared/*/__init__.py services/*/__init__.py certs/scripts/*/__init__.py)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	@touch $@

.PHONY: install
install: $(STAMP) ## Create .venv and install the project with its test tools

# ---------------------------------------------------------------- quality
.PHONY: lint
lint: $(STAMP) ## ruff check, ruff format --check, mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

.PHONY: format
format: $(STAMP) ## Apply ruff's fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

.PHONY: pytest
pytest: $(STAMP) ## Run the test suite only (PYTEST_ARGS=... to narrow it)
	$(PY) -m pytest $(PYTEST_ARGS)

.PHONY: test
test: lint pytest ## Lint, then run every test (installs first if needed)

# ---------------------------------------------------------------- PKI
.PHONY: certs
certs: $(STAMP) ## Make the dev PKI in certs/generated (keeps what exists)
	$(PY) -m devpki make-default

.PHONY: inspect
inspect: $(STAMP) ## Show a certificate: make inspect NAME=orders
	@test -n "$(NAME)" || { echo "usage: make inspect NAME=orders" >&2; exit 2; }
	$(PY) -m devpki inspect $(NAME)

.PHONY: renew
renew: $(STAMP) ## Reissue a certificate with a new key: make renew NAME=orders
	@test -n "$(NAME)" || { echo "usage: make renew NAME=orders" >&2; exit 2; }
	$(PY) -m devpki renew $(NAME)

.PHONY: renewer
renewer: $(STAMP) ## Keep renewing every leaf inside its renewal window (checks daily; Ctrl-C stops)
	$(PY) -m devpki renewer

.PHONY: revoke
revoke: $(STAMP) ## Revoke a certificate and update the CRL: make revoke NAME=storefront
	@test -n "$(NAME)" || { echo "usage: make revoke NAME=storefront" >&2; exit 2; }
	$(PY) -m devpki revoke $(NAME)

# ---------------------------------------------------------------- run locally
# Both services on 127.0.0.1 with the certificates of `make certs`, CRL checking on.
RUN_ENV := MTLS_PKI_DIR=$(CERTS_DIR) MTLS_CRL=$(CERTS_DIR)/crl.pem

.PHONY: run
run: certs ## Run orders (:8443) and payments (:9443) locally in the foreground; Ctrl-C stops both
	@echo "orders on https://localhost:8443, payments on https://localhost:9443 (Ctrl-C stops both)"
	@$(RUN_ENV) $(PY) -m payments & payments=$$!; \
	$(RUN_ENV) $(PY) -m orders & orders=$$!; \
	stop() { trap '' INT TERM; kill -TERM $$payments $$orders 2>/dev/null; wait; \
	         echo "stopped orders and payments"; exit 0; }; \
	trap stop INT TERM; \
	wait

.PHONY: inventory
inventory: $(STAMP) ## Every certificate the running services use, one table (and inventory.png), as ops
	MTLS_IDENTITY=ops $(PY) -m mtls inventory https://localhost:8443 https://localhost:9443 --png inventory.png

.PHONY: demo
demo: $(STAMP) ## Play the storefront against running services (make run, or make up)
	MTLS_PKI_DIR=$(CERTS_DIR) $(PY) -m storefront

# ---------------------------------------------------------------- housekeeping
.PHONY: clean
clean: ## Remove caches and local databases (keeps .venv and certificates)
	rm -rf .pytest_cache .mypy_cache .ruff_cache .hypothesis build *.egg-info
	find . -name __pycache__ -prune -exec rm -rf {} +

# Each capability keeps its targets in a file of its own under mk/.
include $(wildcard mk/*.mk)
