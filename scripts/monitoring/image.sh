#!/usr/bin/env bash
# The Prometheus image of compose's `monitoring` profile. With a registry
# (MTLS_LOCAL_BASE=0) compose pulls the official one and there is nothing to
# do; offline it is built here, once, from Debian's package on the local base
# image (monitoring/Dockerfile), as $PROMETHEUS_IMAGE.
# shellcheck source=scripts/docker/lib.sh
source "$(dirname "$0")/../docker/lib.sh"
[ "$MTLS_LOCAL_BASE" = 1 ] || exit 0
if docker image inspect "$PROMETHEUS_IMAGE" >/dev/null 2>&1; then
    exit 0
fi
scripts/docker/base-image.sh "$BASE_IMAGE"
bin=$(scripts/monitoring/tools.sh)
context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
cp "$bin/prometheus" "$bin/promtool" "$context/"
echo "monitoring: building $PROMETHEUS_IMAGE from $BASE_IMAGE and $("$bin/prometheus" --version 2>&1 | head -1)" >&2
docker build --quiet --network none --build-arg BASE_IMAGE="$BASE_IMAGE" \
    -t "$PROMETHEUS_IMAGE" -f monitoring/Dockerfile "$context" >/dev/null
