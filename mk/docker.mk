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
	@COMPOSE_PROFILES=monitoring $(COMPOSE) down --remove-orphans

.PHONY: clean-docker
clean-docker: ## Stop the containers and remove their volumes (the databases)
	@COMPOSE_PROFILES=monitoring $(COMPOSE) down --volumes --remove-orphans

.PHONY: logs
logs: ## Follow the services' logs (Ctrl-C to stop)
	@$(COMPOSE) logs --follow --tail=100

.PHONY: ps
ps: ## Show the containers and their health
	@$(COMPOSE) ps

.PHONY: docker-demo
docker-demo: ## The storefront demo from a container on the compose network (no Python on the host)
	@$(COMPOSE) run --rm --no-deps storefront

# The PKI step's image, as the services' uid: new files stay readable by them
# even when the host user is root (then `make renew` would write root's 0600 keys).
.PHONY: docker-renew
docker-renew: ## Renew a certificate for the running stack: make docker-renew NAME=orders
	@test -n "$(NAME)" || { echo "usage: make docker-renew NAME=orders" >&2; exit 2; }
	@$(COMPOSE) run --rm --no-deps pki python -m devpki renew $(NAME)

.PHONY: docker-revoke
docker-revoke: ## Revoke a certificate for the running stack: make docker-revoke NAME=storefront
	@test -n "$(NAME)" || { echo "usage: make docker-revoke NAME=storefront" >&2; exit 2; }
	@$(COMPOSE) run --rm --no-deps pki python -m devpki revoke $(NAME)

# compose's profile `monitoring`: Prometheus scraping the three over mTLS (monitoring/).
.PHONY: monitoring
monitoring: images ## make up, plus Prometheus on http://127.0.0.1:9090 scraping over mTLS
	@scripts/monitoring/image.sh
	@COMPOSE_PROFILES=monitoring $(DOCKER_SCRIPTS)/up.sh
