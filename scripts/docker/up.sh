#!/usr/bin/env bash
# Start pki (one-shot), PostgreSQL, orders, payments and the renewer; wait until they are
# healthy (at most MTLS_UP_TIMEOUT seconds, default 90), then say how to call
# them. With COMPOSE_PROFILES=monitoring (make monitoring) also Prometheus,
# until it is ready. On failure: the state and the last log lines, and exit 1.
# shellcheck source=scripts/docker/lib.sh
source "$(dirname "$0")/lib.sh"
TIMEOUT=${MTLS_UP_TIMEOUT:-90}
SERVICES=(postgres orders payments renewer)

prepare_certs_dir
# depends_on (service_completed_successfully) runs pki to completion first, so
# the certificate files exist before a service container mounts them.
compose up -d --no-build "$@"

state() {  # state SERVICE: "<status> <health>" of its container
    local id
    id=$(compose ps -q "$1" 2>/dev/null | head -n1)
    [ -n "$id" ] || { echo "missing none"; return; }
    docker inspect -f '{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$id"
}

deadline=$((SECONDS + TIMEOUT))
while :; do
    pending=()
    for svc in "${SERVICES[@]}"; do
        read -r status health < <(state "$svc")
        case "$status/$health" in
            running/healthy) ;;
            exited/* | dead/* | missing/* | restarting/* | running/unhealthy)
                failed="$svc is $status${health:+ ($health)}"; break ;;
            *) pending+=("$svc:$status/$health") ;;
        esac
    done
    [ -n "${failed:-}" ] && break
    [ ${#pending[@]} -eq 0 ] && break
    if [ $SECONDS -ge $deadline ]; then
        failed="not healthy within ${TIMEOUT}s: ${pending[*]}"; break
    fi
    sleep 1
done

monitoring=""
if [ -z "${failed:-}" ] && [[ ",${COMPOSE_PROFILES:-}," == *,monitoring,* ]]; then
    monitoring=http://127.0.0.1:$(compose port prometheus 9090 | tail -n1 | sed 's/.*://')
    until curl -fsS --max-time 2 "$monitoring/-/ready" >/dev/null 2>&1; do
        if [ $SECONDS -ge $deadline ]; then failed="prometheus not ready within ${TIMEOUT}s"; break; fi
        sleep 1
    done
    SERVICES+=(prometheus)
fi

if [ -n "${failed:-}" ]; then
    echo "up: $failed" >&2
    compose ps >&2
    compose logs --no-color --tail=20 "${SERVICES[@]}" >&2
    exit 1
fi

# The ports as published (ORDERS_HOST_PORT=0 lets Docker pick a free one).
published() { compose port "$1" 8443 | tail -n1 | sed 's/.*://'; }
c=$CERTS_DIR o=$(published orders) p=$(published payments)
db=$(compose port postgres 5432 | tail -n1 | sed 's/.*://')
cat <<MSG
orders and payments are up and healthy (mTLS; trust anchor $c/ca.crt).
Call them as storefront (orders) or ops (either):
  curl --cacert $c/ca.crt --cert $c/storefront/chain.pem --key $c/storefront/key.pem https://localhost:$o/health
  curl --cacert $c/ca.crt --cert $c/ops/chain.pem --key $c/ops/key.pem https://localhost:$p/health
  curl --cacert $c/ca.crt --cert $c/ops/chain.pem --key $c/ops/key.pem https://localhost:$o/metrics
Their data, in PostgreSQL, logged in as orders by its certificate (psql on the host):
  psql "host=localhost port=$db dbname=orders user=orders sslmode=verify-full sslrootcert=$c/ca.crt sslcert=$c/orders/chain.pem sslkey=$c/orders/key.pem" -c 'SELECT id, status FROM orders'
The storefront's story across both containers: make demo$( [ "$o:$p" = 8443:9443 ] || printf ' DEMO_ORDERS_URL=https://localhost:%s DEMO_PAYMENTS_URL=https://localhost:%s' "$o" "$p")
Logs: make logs    State: make ps    Stop: make down (keeps data; make clean-docker drops it)
MSG
[ -z "$monitoring" ] || cat <<MSG
Prometheus scrapes orders, payments and the renewer over mTLS as ops:
  targets $monitoring/targets    alerts $monitoring/alerts
MSG
