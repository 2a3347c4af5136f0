# Docker Swarm: orders x3, payments x3 and PostgreSQL as a stack (tools/swarm.py), the
# stack file made from docker-compose.yml by tools/stack.py (keys as secrets, chains,
# CA and CRLs as configs). MTLS_SWARM_REPLICAS sets the replicas (default 3).

.PHONY: swarm-up
swarm-up: $(STAMP) ## Deploy the stack on a one-node swarm (created if the engine has none)
	@VENV=$(VENV) scripts/docker/swarm.sh up

.PHONY: swarm-down
swarm-down: $(STAMP) ## Remove the stack, and the swarm if swarm-up created it
	@VENV=$(VENV) scripts/docker/swarm.sh down

.PHONY: swarm-e2e
swarm-e2e: $(STAMP) ## Deploy, spread, scale, rotate and kill under load, reconcile; then tear down
	@VENV=$(VENV) scripts/docker/swarm.sh e2e
