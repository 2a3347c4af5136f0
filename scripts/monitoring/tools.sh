#!/usr/bin/env bash
# Prometheus and promtool for `make test` (promtool check/test, a live scrape
# over mTLS) and for the offline Prometheus image: prints the folder that holds
# both. In order:
#   1. $MTLS_PROMETHEUS_BIN, if set (a folder with prometheus and promtool);
#   2. both on PATH (an installed Prometheus 2.x);
#   3. .cache/prometheus/usr/bin, unpacked earlier;
#   4. Debian's `prometheus` package, downloaded with apt and unpacked there
#      with dpkg-deb: never installed, so no daemon starts and nothing
#      outside the checkout changes (the package's postinst would start one).
set -euo pipefail
cd "$(dirname "$0")/../.."
say() { echo "prometheus-tools: $*" >&2; }

if [ -n "${MTLS_PROMETHEUS_BIN:-}" ]; then
    echo "$MTLS_PROMETHEUS_BIN"; exit 0
fi
if command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; then
    dirname "$(command -v promtool)"; exit 0
fi
cache=.cache/prometheus
if [ -x "$cache/usr/bin/promtool" ] && [ -x "$cache/usr/bin/prometheus" ]; then
    echo "$PWD/$cache/usr/bin"; exit 0
fi
command -v apt-get >/dev/null 2>&1 || {
    say "no prometheus/promtool on PATH and no apt-get: install Prometheus 2.x, or set MTLS_PROMETHEUS_BIN"
    exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
download() { (cd "$work" && apt-get download -q prometheus) >"$work/apt.log" 2>&1; }
if ! download; then
    # A fresh machine has no package lists yet; root may fetch them.
    if [ "$(id -u)" -eq 0 ]; then apt-get update -qq >/dev/null; fi
    download || { cat "$work/apt.log" >&2; say "apt-get download prometheus failed"; exit 1; }
fi
rm -rf "$cache"
mkdir -p "$cache"
dpkg-deb -x "$work"/prometheus_*.deb "$cache"
say "unpacked $(basename "$work"/prometheus_*.deb) into $cache ($("$cache/usr/bin/promtool" --version 2>&1 | head -1))"
echo "$PWD/$cache/usr/bin"
