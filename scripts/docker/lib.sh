# Shared by the scripts in scripts/docker/ (sourced, not run). Sets up:
#   DOCKER_HOST      a daemon that answers (engine.sh starts one if needed)
#   compose ...      `docker compose` (v2) when it works, else `docker-compose` (v1.29)
#   MTLS_UID/GID     the uid:gid every container runs as (see docker-compose.yml)
#   MTLS_LOCAL_BASE  1: build on the debootstrap base with the wheelhouse, offline
#   BASE_IMAGE, WHEELHOUSE, MTLS_IMAGE, COMPOSE_PROJECT_NAME, MTLS_CERTS_DIR,
#   PROMETHEUS_IMAGE, POSTGRES_IMAGE (offline only; compose defaults to the official ones)
# shellcheck shell=bash
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

DOCKER_HOST=$(scripts/docker/engine.sh start)
export DOCKER_HOST
export COMPOSE_PROJECT_NAME=${COMPOSE_PROJECT_NAME:-mtls}
export MTLS_IMAGE=${MTLS_IMAGE:-mtls-services:dev}
# The PKI folder docker-compose.yml mounts: ./certs/generated unless
# MTLS_CERTS_DIR names another (make e2e uses a throwaway one). Compose gets it
# absolute: a relative path without ./ would read as a named volume.
CERTS_DIR=${MTLS_CERTS_DIR:-certs/generated}
MTLS_CERTS_DIR=$(realpath -m "$CERTS_DIR")
export MTLS_CERTS_DIR

if docker compose version >/dev/null 2>&1; then
    compose() { docker compose "$@"; }
elif command -v docker-compose >/dev/null 2>&1; then
    compose() { docker-compose "$@"; }
else
    echo "docker: neither 'docker compose' nor 'docker-compose' is installed" >&2
    exit 1
fi

# Root on the host: run as the image's user 10001. Anyone else: as themselves.
if [ -z "${MTLS_UID:-}" ]; then
    if [ "$(id -u)" -eq 0 ]; then MTLS_UID=10001 MTLS_GID=10001
    else MTLS_UID=$(id -u) MTLS_GID=$(id -g); fi
fi
export MTLS_UID MTLS_GID=${MTLS_GID:-$MTLS_UID}

# Offline (the local base image plus the wheelhouse) unless told otherwise.
# Autodetected without touching the network: our own daemon (started by
# engine.sh, on machines with no registry) builds offline, unless the official
# base image is already there; a user's own Docker pulls python:3.11-slim.
OFFICIAL_BASE=python:3.11-slim
LOCAL_BASE=${MTLS_LOCAL_BASE_IMAGE:-mtls-local/python:3.11-bookworm}
if [ -z "${MTLS_LOCAL_BASE:-}" ]; then
    if [ "$DOCKER_HOST" = "unix://${MTLS_DOCKER_DIR:-/var/cache/mtls-ci/docker}/docker.sock" ] \
        && ! docker image inspect "${BASE_IMAGE:-$OFFICIAL_BASE}" >/dev/null 2>&1; then
        MTLS_LOCAL_BASE=1
    else
        MTLS_LOCAL_BASE=0
    fi
fi
export MTLS_LOCAL_BASE
if [ "$MTLS_LOCAL_BASE" = 1 ]; then
    export BASE_IMAGE=${BASE_IMAGE:-$LOCAL_BASE} WHEELHOUSE=${WHEELHOUSE:-.cache/wheels}
    # compose's `monitoring` profile: Debian's Prometheus, built by scripts/monitoring/image.sh
    export PROMETHEUS_IMAGE=${PROMETHEUS_IMAGE:-mtls-local/prometheus:debian}
    # compose's postgres: Debian's postgresql-15, built by scripts/docker/postgres-image.sh
    export POSTGRES_IMAGE=${POSTGRES_IMAGE:-mtls-local/postgres:15-bookworm}
else
    export BASE_IMAGE=${BASE_IMAGE:-$OFFICIAL_BASE} WHEELHOUSE=${WHEELHOUSE:-scripts/docker/no-wheels}
fi

# certs/generated must exist and belong to MTLS_UID before the pki container
# writes to it (Docker would create a missing bind source as root).
prepare_certs_dir() {
    mkdir -p "$CERTS_DIR"
    if [ "$(id -u)" -eq 0 ]; then
        # Root may have made the PKI on the host (make certs): hand it over.
        find "$CERTS_DIR" \( ! -uid "$MTLS_UID" -o ! -gid "$MTLS_GID" \) \
            -exec chown "$MTLS_UID:$MTLS_GID" {} +
    elif [ -n "$(find "$CERTS_DIR" ! -uid "$MTLS_UID" -print -quit)" ]; then
        echo "docker: $CERTS_DIR has files not owned by uid $MTLS_UID (made as root?)." >&2
        echo "        Fix with: sudo chown -R $MTLS_UID:$MTLS_GID $CERTS_DIR" >&2
        return 1
    fi
}
