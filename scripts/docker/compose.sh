#!/usr/bin/env bash
# docker compose (v2) or docker-compose (v1.29), with the environment that
# docker-compose.yml expects (DOCKER_HOST, MTLS_UID/GID, BASE_IMAGE, ...).
#   scripts/docker/compose.sh ps | logs -f | exec orders sh | ...
#   scripts/docker/compose.sh --print-env     the variables, as shell exports
# shellcheck source=scripts/docker/lib.sh
source "$(dirname "$0")/lib.sh"
if [ "${1:-}" = "--print-env" ]; then
    for v in DOCKER_HOST COMPOSE_PROJECT_NAME MTLS_IMAGE MTLS_UID MTLS_GID \
             MTLS_LOCAL_BASE BASE_IMAGE WHEELHOUSE MTLS_CERTS_DIR PROMETHEUS_IMAGE; do
        [ -z "${!v:-}" ] || printf 'export %s=%q\n' "$v" "${!v}"
    done
    exit 0
fi
compose "$@"
