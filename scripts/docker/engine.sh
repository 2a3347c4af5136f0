#!/usr/bin/env bash
# Make sure a Docker daemon answers, and print the DOCKER_HOST to use.
#
#   scripts/docker/engine.sh [start]   ensure a daemon; print DOCKER_HOST on stdout
#   scripts/docker/engine.sh env       the same, as `export DOCKER_HOST=...`
#   scripts/docker/engine.sh status    say which daemon would be used; exit 1 if none
#   scripts/docker/engine.sh stop      stop the daemon this script started (by its pidfile)
#
# A daemon the user already runs (DOCKER_HOST, or /var/run/docker.sock) is used
# as it is and nothing is installed. Otherwise, as root, this installs docker.io,
# docker-compose and debootstrap from Debian and starts dockerd with its data
# under $MTLS_DOCKER_DIR (default /var/cache/mtls-ci/docker), which outlives CI
# runs so layers and images stay cached. Containers cannot route off the machine
# (--ip-forward=false --ip-masq=false); published ports work on 127.0.0.1.
# Safe to call repeatedly. Messages go to stderr; stdout carries only the answer.
set -euo pipefail

DIR=${MTLS_DOCKER_DIR:-/var/cache/mtls-ci/docker}
SOCK="unix://$DIR/docker.sock"
PIDFILE="$DIR/dockerd.pid"
LOG="$DIR/dockerd.log"

say() { echo "engine: $*" >&2; }

answers() {  # answers HOST: does a daemon reply there?
    DOCKER_HOST=$1 timeout 20 docker info >/dev/null 2>&1
}

our_pid() {
    local pid
    [ -s "$PIDFILE" ] || return 1
    pid=$(cat "$PIDFILE")
    [ -d "/proc/$pid" ] && grep -q dockerd "/proc/$pid/comm" 2>/dev/null && echo "$pid"
}

find_daemon() {  # prints the DOCKER_HOST of a daemon that answers, if any
    if [ -n "${DOCKER_HOST:-}" ] && answers "$DOCKER_HOST"; then echo "$DOCKER_HOST"; return; fi
    command -v docker >/dev/null 2>&1 || return 1
    if [ -S "$DIR/docker.sock" ] && answers "$SOCK"; then echo "$SOCK"; return; fi
    if [ -z "${DOCKER_HOST:-}" ] && [ -S /var/run/docker.sock ] \
        && answers unix:///var/run/docker.sock; then
        echo unix:///var/run/docker.sock; return
    fi
    return 1
}

install_tools() {
    local missing=()
    command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
    command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
    command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
    [ ${#missing[@]} -eq 0 ] && return 0
    say "installing ${missing[*]} (Debian packages; log in $DIR/install.log)"
    mkdir -p "$DIR"
    export DEBIAN_FRONTEND=noninteractive
    local apt_install=(apt-get install -y -q --no-install-recommends "${missing[@]}")
    if ! "${apt_install[@]}" >"$DIR/install.log" 2>&1; then
        say "package lists are stale or missing: apt-get update"
        if ! { apt-get update -q && "${apt_install[@]}"; } >>"$DIR/install.log" 2>&1; then
            tail -n 20 "$DIR/install.log" >&2; say "installing ${missing[*]} failed"; return 1
        fi
    fi
}

start() {
    local found
    if found=$(find_daemon); then echo "$found"; return 0; fi
    if [ "$(id -u)" -ne 0 ]; then
        say "no Docker daemon answers (DOCKER_HOST=${DOCKER_HOST:-unset}, /var/run/docker.sock)."
        say "Start Docker (or run this as root to let it start one), then retry."
        return 1
    fi
    install_tools
    mkdir -p "$DIR/data" "$DIR/exec"
    if pid=$(our_pid); then
        say "dockerd $pid exists but does not answer; stopping it"
        stop_daemon
    fi
    rm -f "$PIDFILE" "$DIR/docker.sock"
    say "starting dockerd (data in $DIR, log $LOG)"
    # setsid: the daemon outlives the make/shell that started it.
    setsid dockerd \
        --data-root "$DIR/data" --exec-root "$DIR/exec" --pidfile "$PIDFILE" \
        -H "$SOCK" --storage-driver overlay2 \
        --iptables=true --ip-forward=false --ip-masq=false \
        >>"$LOG" 2>&1 </dev/null &
    local i
    for i in $(seq 1 120); do
        if answers "$SOCK"; then
            say "dockerd $(cat "$PIDFILE") ready after ~$((i / 4)) s"
            echo "$SOCK"
            return 0
        fi
        if ! kill -0 $! 2>/dev/null; then
            say "dockerd exited; last lines of $LOG:"; tail -n 20 "$LOG" >&2; return 1
        fi
        sleep 0.25
    done
    say "dockerd did not answer within 30 s; see $LOG"
    return 1
}

stop_daemon() {
    local pid i
    if ! pid=$(our_pid); then say "no dockerd started by this script is running ($PIDFILE)"; return 0; fi
    say "stopping dockerd $pid"
    kill -TERM "$pid"
    for i in $(seq 1 120); do
        [ -d "/proc/$pid" ] || { say "stopped"; return 0; }
        sleep 0.25
    done
    say "dockerd $pid still running after 30 s"; return 1
}

case "${1:-start}" in
    start) start ;;
    env) host=$(start); echo "export DOCKER_HOST=$host" ;;
    status)
        if host=$(find_daemon); then
            echo "$host"
            if [ "$host" = "$SOCK" ]; then say "ours: pid $(our_pid || echo '?'), pidfile $PIDFILE"; fi
        else say "no daemon answers"; exit 1; fi ;;
    stop) stop_daemon ;;
    *) echo "usage: $0 [start|env|status|stop]" >&2; exit 2 ;;
esac
