#!/usr/bin/env bash
# Download, on the host, every wheel the image needs, so that `docker build
# --network none` can install with `pip --no-index --find-links`.
#
#   scripts/docker/wheelhouse.sh [DIR]    default .cache/wheels (git-ignored, in the build context)
#
# What goes in: the runtime dependencies and the build requirements
# ([build-system].requires), both read from pyproject.toml, for CPython 3.11 on
# x86_64 manylinux (glibc 2.34+: Debian bookworm, python:3.11-slim). The project
# itself is not packed here: the Dockerfile builds it from the source in the
# context, so the image never carries a stale wheel of it.
# Cached: downloads again only when that list of requirements changes.
set -euo pipefail
cd "$(dirname "$0")/../.."

DEST=${1:-.cache/wheels}
PYVER=${WHEEL_PYTHON_VERSION:-3.11}
say() { echo "wheelhouse: $*" >&2; }

# A Python 3.11+ with pip, for reading pyproject.toml and for `pip download`.
py=""
for candidate in "${PYTHON_FOR_WHEELS:-}" .venv/bin/python python3; do
    [ -n "$candidate" ] || continue
    if "$candidate" -c 'import sys, tomllib, pip; assert sys.version_info >= (3, 11)' 2>/dev/null; then
        py=$candidate; break
    fi
done
if [ -z "$py" ]; then
    say "making .cache/wheel-tools (a venv with pip) to download with"
    python3 -m venv .cache/wheel-tools
    py=.cache/wheel-tools/bin/python
fi

reqs=$("$py" - <<'PY'
import tomllib
with open("pyproject.toml", "rb") as f:
    data = tomllib.load(f)
for req in data["build-system"]["requires"] + data["project"]["dependencies"]:
    print(req)
PY
)
key=$(printf '%s\n%s\n' "$PYVER" "$reqs" | sha256sum | cut -c1-16)
if [ -f "$DEST/.key" ] && [ "$(cat "$DEST/.key")" = "$key" ] && ls "$DEST"/*.whl >/dev/null 2>&1; then
    say "$DEST is up to date ($(find "$DEST" -name "*.whl" | wc -l) wheels)"; exit 0
fi

say "downloading wheels for Python $PYVER into $DEST"
tmp="$DEST.tmp.$$"
rm -rf "$tmp"; mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
mapfile -t req_args <<<"$reqs"
"$py" -m pip download --quiet --disable-pip-version-check \
    --only-binary=:all: --implementation cp --python-version "$PYVER" \
    --platform manylinux_2_34_x86_64 --platform manylinux_2_28_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --dest "$tmp" "${req_args[@]}" \
    2> >(grep -v "is neither a file nor a directory" >&2)  # noise from a local pip.conf
echo "$key" >"$tmp/.key"
rm -rf "$DEST"; mv "$tmp" "$DEST"; trap - EXIT
say "$(find "$DEST" -name "*.whl" | wc -l) wheels, $(du -sh "$DEST" | cut -f1)"
