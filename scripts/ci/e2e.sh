#!/usr/bin/env bash
# CI: `make e2e` on a real Docker engine, from a fresh clone (.ci/run calls this
# after `make test`). Needs root on a machine without a reachable registry:
#   - scripts/docker/engine.sh installs docker.io, docker-compose and
#     debootstrap when missing and starts dockerd (--ip-forward=false
#     --ip-masq=false) with its data in /var/cache/mtls-ci/docker;
#   - the base image is built locally with debootstrap, pip installs from a
#     wheelhouse downloaded on the host, `docker build --network none`.
# Cached between runs on one machine: the daemon's images and layers (its data
# folder) and the wheelhouse (/var/cache/mtls-ci/wheels). A daemon this script
# started is stopped at the end, by its PID; one that was already running is
# left alone. Bounded: MTLS_E2E_CI_TIMEOUT seconds (default 2400) for make e2e.
set -euo pipefail
cd "$(dirname "$0")/../.."

CACHE=${MTLS_CI_CACHE:-/var/cache/mtls-ci}
export MTLS_DOCKER_DIR=${MTLS_DOCKER_DIR:-$CACHE/docker}
export MTLS_LOCAL_BASE=${MTLS_LOCAL_BASE:-1}  # no registry answers here
WHEELS=.cache/wheels
started=$SECONDS
say() { echo "ci/e2e: $* ($((SECONDS - started)) s)" >&2; }

# make e2e checks the stack from the host with these two.
for tool in curl openssl; do
    command -v "$tool" >/dev/null 2>&1 && continue
    say "installing $tool"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$tool" >/dev/null ||
        { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "$tool" >/dev/null; }
done

ours=0
if ! scripts/docker/engine.sh status >/dev/null 2>&1; then ours=1; fi
DOCKER_HOST=$(scripts/docker/engine.sh start)
export DOCKER_HOST
say "engine ready at $DOCKER_HOST ($([ "$ours" = 1 ] && echo "started here" || echo "already running"))"

stop_engine() {
    local code=$?
    if [ "$ours" = 1 ]; then scripts/docker/engine.sh stop || true; fi
    say "done, exit $code"
}
trap stop_engine EXIT

# The wheelhouse must sit in the build context; keep a copy outside the clone.
if [ ! -d "$WHEELS" ] && [ -d "$CACHE/wheels" ]; then
    mkdir -p .cache && cp -a "$CACHE/wheels" "$WHEELS"
fi
scripts/docker/wheelhouse.sh "$WHEELS"
if ! diff -q "$WHEELS/.key" "$CACHE/wheels/.key" >/dev/null 2>&1; then
    mkdir -p "$CACHE"
    rm -rf "$CACHE/wheels.tmp" && cp -a "$WHEELS" "$CACHE/wheels.tmp"
    rm -rf "$CACHE/wheels" && mv "$CACHE/wheels.tmp" "$CACHE/wheels"
fi
say "wheelhouse ready"

timeout --kill-after=60 "${MTLS_E2E_CI_TIMEOUT:-2400}" make --no-print-directory e2e

# Then the Swarm stack on the same engine: three replicas of each service, spread,
# scale-up, rotation and kills under load (tools/swarm.py); it leaves no swarm behind.
timeout --kill-after=60 "${MTLS_SWARM_E2E_CI_TIMEOUT:-1800}" make --no-print-directory swarm-e2e
