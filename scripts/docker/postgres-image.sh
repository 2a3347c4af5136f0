#!/usr/bin/env bash
# The PostgreSQL image of compose's `postgres` service. With a registry
# (MTLS_LOCAL_BASE=0) compose pulls the official postgres:15 image and there is
# nothing to do; offline it is built here, once: the local base image's
# debootstrap with Debian's postgresql-15 included, as $POSTGRES_IMAGE. Either
# way deploy/postgres/start.sh runs it (same paths: /usr/lib/postgresql/15/bin).
# shellcheck source=scripts/docker/lib.sh
source "$(dirname "$0")/lib.sh"
[ "$MTLS_LOCAL_BASE" = 1 ] || exit 0
scripts/docker/base-image.sh "$POSTGRES_IMAGE" postgresql-15
