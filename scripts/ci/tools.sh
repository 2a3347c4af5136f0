#!/usr/bin/env bash
# Install the outside clients the security tests drive, when missing: curl,
# openssl and a JDK whose `java` runs a source file (`java Client.java`
# needs the jdk.compiler module, which a JRE lacks); and the real PostgreSQL
# the database suites start (Debian's postgresql-15, binaries only: its own
# cluster is never started; harness/postgres.py runs one per test session).
# Debian/Ubuntu, as root or with sudo. Idempotent: with everything present it
# only checks (< 1 s).
set -euo pipefail

missing=()
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
if ! command -v java >/dev/null 2>&1 || ! java --list-modules 2>/dev/null | grep -q '^jdk.compiler@'; then
	missing+=(jdk)
fi
[ -x "${MTLS_PG_BIN:-/usr/lib/postgresql/15/bin}/initdb" ] || missing+=(postgresql-15)
if [ ${#missing[@]} -eq 0 ]; then
	echo "tools: curl, openssl, a JDK and PostgreSQL 15 are present"
	exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
	echo "tools: missing ${missing[*]} and no apt-get here: install them with your package manager" >&2
	exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null 2>&1 || { echo "tools: missing ${missing[*]}; run as root or install sudo" >&2; exit 1; }
	sudo="sudo -n" # never prompt: CI has no terminal
fi

export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# The package's own cluster must not start (no daemon left behind): policy-rc.d says no.
if [[ " ${missing[*]} " == *" postgresql-15 "* && ! -e /usr/sbin/policy-rc.d ]]; then
	printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
	$sudo chmod +x /usr/sbin/policy-rc.d
	remove_policy=1
fi
packages=()
for tool in "${missing[@]}"; do
	case "$tool" in
	jdk)
		for candidate in default-jdk-headless openjdk-17-jdk-headless; do
			if apt-cache show "$candidate" >/dev/null 2>&1; then
				packages+=("$candidate")
				break
			fi
		done
		;;
	*) packages+=("$tool") ;;
	esac
done
if [[ " ${missing[*]} " == *" jdk "* && " ${packages[*]} " != *jdk* ]]; then
	echo "tools: no default-jdk-headless or openjdk-17-jdk-headless in apt: install a JDK 11+" >&2
	exit 1
fi
echo "tools: installing ${packages[*]}"
$sudo apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
[ -z "${remove_policy:-}" ] || $sudo rm -f /usr/sbin/policy-rc.d
java --list-modules 2>/dev/null | grep -q '^jdk.compiler@' || {
	echo "tools: the JDK installed but java cannot run source files (no jdk.compiler)" >&2
	exit 1
}
echo "tools: ready ($(curl --version | head -1 | cut -d' ' -f1-2), $(openssl version), java $(java -version 2>&1 | head -1), $("${MTLS_PG_BIN:-/usr/lib/postgresql/15/bin}/postgres" --version))"
