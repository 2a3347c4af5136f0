#!/usr/bin/env bash
# Build the services' image (mtls-services:dev). Offline on machines without a
# registry: a debootstrap base image and a host-side wheelhouse, then
# `docker build --network none`. Elsewhere: python:3.11-slim and PyPI.
# shellcheck source=scripts/docker/lib.sh
source "$(dirname "$0")/lib.sh"

if [ "$MTLS_LOCAL_BASE" = 1 ]; then
    scripts/docker/base-image.sh "$BASE_IMAGE"
    scripts/docker/postgres-image.sh
    scripts/docker/wheelhouse.sh "$WHEELHOUSE"
    network=(--network none)
else
    network=()
fi
echo "images: building $MTLS_IMAGE from $BASE_IMAGE (wheels: $WHEELHOUSE)" >&2
args=(--quiet "${network[@]}" --build-arg BASE_IMAGE="$BASE_IMAGE" --build-arg WHEELHOUSE="$WHEELHOUSE")
# The build stage is tagged too (-build), so that it stays the layer cache for
# the next build while superseded images, untagged now, are pruned: a daemon
# that lives across CI runs would otherwise keep a venv layer per change.
build() {  # quiet unless it fails: Docker 28's client warns on every legacy build
    local log
    log=$(docker build "${args[@]}" "$@" . 2>&1 >/dev/null) || { echo "$log" >&2; return 1; }
}
started=$SECONDS
build --target build -t "$MTLS_IMAGE-build"
build -t "$MTLS_IMAGE"
docker image prune --force --filter label=org.mtls-services.image >/dev/null
echo "images: built $MTLS_IMAGE in $((SECONDS - started)) s" >&2
