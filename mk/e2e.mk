# `make e2e`: the compose stack on a real Docker engine, checked from the host
# with curl and openssl (scripts/docker/e2e.sh). Needs Docker (or root, to let
# scripts/docker/engine.sh install and start one), curl and openssl; no venv.
# Isolated from `make up`/`make run`: project mtls-e2e-<pid>, image mtls-services:e2e,
# a throwaway PKI and free host ports. Last line: "e2e: N passed, M failed".

.PHONY: e2e
e2e: ## Build, start and check the compose stack end to end, then remove it
	@scripts/docker/e2e.sh

.PHONY: e2e-down
e2e-down: ## Remove what `MTLS_E2E_KEEP=1 make e2e` left: make e2e-down MTLS_E2E_PROJECT=mtls-e2e-<pid>
	@test -n "$(MTLS_E2E_PROJECT)" || { echo "usage: make e2e-down MTLS_E2E_PROJECT=<the name e2e printed>" >&2; exit 2; }
	@COMPOSE_PROJECT_NAME=$(MTLS_E2E_PROJECT) scripts/docker/compose.sh down --volumes --remove-orphans
