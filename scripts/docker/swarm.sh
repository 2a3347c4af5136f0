#!/usr/bin/env bash
# `make swarm-up|swarm-down|swarm-e2e`: the services on Docker Swarm (tools/swarm.py).
# Finds or starts the engine and builds the images like `make up` (offline where no
# registry answers), then runs `python -m tools.swarm COMMAND`. swarm-e2e stops an
# engine it started itself; the swarm, stack and volume it made are removed by
# tools/swarm.py.
# shellcheck source=scripts/docker/lib.sh
set -euo pipefail
command=${1:?usage: scripts/docker/swarm.sh up|down|e2e}
ours=0
scripts_dir="$(dirname "$0")"
if [ "$command" = e2e ] && ! "$scripts_dir/engine.sh" status >/dev/null 2>&1; then ours=1; fi
source "$scripts_dir/lib.sh"
if [ "$ours" = 1 ]; then trap 'scripts/docker/engine.sh stop || true' EXIT; fi
[ "$command" = down ] || scripts/docker/images.sh
"${VENV:-.venv}/bin/python" -m tools.swarm "$command"
