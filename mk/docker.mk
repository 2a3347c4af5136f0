# Containers: one image for both services, docker-compose.yml, a dev PKI step.
# The scripts in scripts/docker/ do the work; they find (or, as root on a
# machine without Docker, install and start) a daemon, pick `docker compose`
# or `docker-compose`, and build offline when no registry is reachable
# (MTLS_LOCAL_BASE=1 forces that, =0 forces python:3.11-slim from the registry).
# Run `eval "$$(make -s docker-env)"` to use docker/compose by hand afterwards.

DOCKER_SCRIPTS := scripts/docker
COMPOSE := $(DOCKER_SCRIPTS)/compose.sh

.PHONY: engine
engine: ## Make sure a Docker daemon runs (starts a cached one if none answers)
	@$(DOCKER_SCRIPTS)/engine.sh start >/dev/null
	@$(DOCKER_SCRIPTS)/engine.sh status

.PHONY: engine-stop
engine-stop: ## Stop the Docker daemon that `make engine` started (by its pidfile)
	@$(DOCKER_SCRIPTS)/engine.sh stop

.PHONY: docker-env
docker-env: ## Print the exports for using docker/compose by hand (eval them)
	@$(COMPOSE) --print-env

.PHONY: images
images: ## Build the services' image mtls-services:dev (offline when needed)
	@$(DOCKER_SCRIPTS)/images.sh

.PHONY: up
up: images ## Build, make the PKI, start orders+payments, wait until healthy
	@$(DOCKER_SCRIPTS)/up.sh

.PHONY: down
down: ## Stop and remove the containers (keeps the databases' volumes)
	@$(COMPOSE) down --remove-orphans

.PHONY: clean-docker
clean-docker: ## Stop the containers and remove their volumes (the databases)
	@$(COMPOSE) down --volumes --remove-orphans

.PHONY: logs
logs: ## Follow the services' logs (Ctrl-C to stop)
	@$(COMPOSE) logs --follow --tail=100

.PHONY: ps
ps: ## Show the containers and their health
	@$(COMPOSE) ps

# ---------------------------------------------------------------- e2e
# `make e2e` (tests against the running containers) comes later, in its own
# mk/e2e.mk. Build it on these pieces:
#   - prerequisite `up`: images built, PKI made, both services healthy;
#   - `eval "$$($(COMPOSE) --print-env)"` in the recipe gives DOCKER_HOST etc.;
#   - orders on https://localhost:8443, payments on https://localhost:9443,
#     client certificates in $(CERTS_DIR)/{storefront,ops}/ (readable by the
#     host user), trust anchor $(CERTS_DIR)/ca.crt;
#   - `$(COMPOSE) exec -T orders ...` / `$(COMPOSE) logs orders` for inspection;
#   - finish with `down` (or `clean-docker` for a fresh database next time).
