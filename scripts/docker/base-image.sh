#!/usr/bin/env bash
# Build a local Python base image with debootstrap, for machines that cannot
# pull from a registry. Debian bookworm's python3 is 3.11, like python:3.11-slim.
#
#   scripts/docker/base-image.sh [IMAGE [PACKAGE...]]
#       IMAGE default mtls-local/python:3.11-bookworm; PACKAGEs are Debian packages
#       to include besides python3 (postgres-image.sh passes postgresql-15)
#
# Skipped when the image already exists (the daemon's store is the cache).
# Needs root (debootstrap) and a reachable Debian mirror (the one in /etc/apt).
set -euo pipefail
cd "$(dirname "$0")/../.."

IMAGE=${1:-${MTLS_LOCAL_BASE_IMAGE:-mtls-local/python:3.11-bookworm}}
EXTRA=("${@:2}")
include=python3,python3-venv,python3-pip,ca-certificates
for package in "${EXTRA[@]}"; do include+=",$package"; done
SUITE=${DEBIAN_SUITE:-bookworm}
say() { echo "base-image: $*" >&2; }

if [ -z "${DOCKER_HOST:-}" ]; then
    DOCKER_HOST=$(scripts/docker/engine.sh start); export DOCKER_HOST
fi
if docker image inspect "$IMAGE" >/dev/null 2>&1; then
    say "$IMAGE exists (cached)"; exit 0
fi
if [ "$(id -u)" -ne 0 ]; then say "debootstrap needs root"; exit 1; fi
command -v debootstrap >/dev/null 2>&1 || {
    say "debootstrap missing: run scripts/docker/engine.sh as root first (it installs it)"; exit 1; }

# The mirror apt already uses on this machine (deb822 or one-line sources).
mirror=${DEBIAN_MIRROR:-$(grep -hoE '^(URIs:[[:space:]]*|deb[[:space:]]+)\S+/debian/?' \
    /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
    | head -n1 | awk '{print $NF}' || true)}
mirror=${mirror:-http://deb.debian.org/debian}

work=$(mktemp -d /var/tmp/mtls-rootfs.XXXXXX)
trap 'rm -rf "$work"' EXIT
say "debootstrap $SUITE from $mirror (about 80 s)"
debootstrap --variant=minbase \
    --include="$include" \
    "$SUITE" "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 || {
    tail -n 30 "$work/debootstrap.log" >&2; exit 1; }
# Slim it: no apt lists, docs or caches in the image.
rm -rf "$work"/rootfs/var/lib/apt/lists/* "$work"/rootfs/var/cache/apt/*.bin \
    "$work"/rootfs/var/cache/apt/archives/*.deb "$work"/rootfs/usr/share/doc/* \
    "$work"/rootfs/usr/share/man/* "$work"/rootfs/usr/share/info/*
say "docker import $IMAGE"
tar -C "$work/rootfs" -c . | docker import \
    -c 'ENV LANG=C.UTF-8' \
    -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    -c 'CMD ["python3"]' \
    -m "debootstrap --variant=minbase $SUITE + $include" - "$IMAGE" >/dev/null
say "built $IMAGE ($(docker image inspect -f '{{.Size}}' "$IMAGE" | awk '{printf "%d MB", $1/1e6}'))"
