#!/usr/bin/env bash
# `make e2e`: the compose stack on a real Docker engine, checked from the host
# with curl and openssl only, the way a person would check it.
#
# Isolated from anyone's `make up` or `make run` on the same machine: its own
# compose project, image tag, throwaway PKI folder and free host ports picked
# by Docker. Everything it made is removed at the end, on failure too.
# The last line is the summary: "e2e: N passed, M failed" (exit 1 if M > 0).
# Checks: build+healthy, the demo flow, calls by service name, no certificate
# and a foreign CA refused, payments' policy, the in-network demo, renewal and
# revocation while up, the inventory, the renewer, Prometheus scraping over
# mTLS and its expiry alert firing, PostgreSQL holding the order (psql with the
# orders certificate) and refusing a login without TLS or with the storefront's
# certificate, down leaves nothing.
#
#   MTLS_E2E_KEEP=1   leave the stack running for a look (then: make e2e-down MTLS_E2E_PROJECT=...)
#   MTLS_E2E_PROJECT  compose project name (default mtls-e2e-<pid>: runs never share one)
#   MTLS_E2E_TIMEOUT  seconds each "eventually" check may wait (default 20)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

for tool in curl openssl; do
    command -v "$tool" >/dev/null 2>&1 || { echo "e2e: needs $tool on the host" >&2; exit 2; }
done

export COMPOSE_PROJECT_NAME=${MTLS_E2E_PROJECT:-mtls-e2e-$$}
export MTLS_IMAGE=${MTLS_E2E_IMAGE:-mtls-services:e2e}
export ORDERS_HOST_PORT=0 PAYMENTS_HOST_PORT=0 PROMETHEUS_HOST_PORT=0 POSTGRES_HOST_PORT=0
export COMPOSE_PROFILES=monitoring  # Prometheus too (make monitoring)
export MTLS_RENEW_INTERVAL=1  # the renewer checks every second here (daily by default)
work=$(mktemp -d "${TMPDIR:-/tmp}/mtls-e2e.XXXXXX")
trap 'rm -rf "$work"' EXIT  # until finish (below) takes over
export MTLS_CERTS_DIR=$work/pki
# shellcheck source=scripts/docker/lib.sh
source "$here/lib.sh"
TIMEOUT=${MTLS_E2E_TIMEOUT:-20}
PKI=$MTLS_CERTS_DIR

passed=0 failed=0
started=$SECONDS
say() { echo "e2e: $*" >&2; }

finish() {
    local code=$?
    if [ "${MTLS_E2E_KEEP:-0}" = 1 ]; then
        say "kept: PKI $PKI; remove the stack with: make e2e-down MTLS_E2E_PROJECT=$COMPOSE_PROJECT_NAME"
    else
        compose down --volumes --remove-orphans >/dev/null 2>&1 || true
        rm -rf "$work"
    fi
    if [ "$code" -ne 0 ] && [ "$failed" -eq 0 ]; then
        say "stopped early (exit $code) after $passed checks"
        failed=1
    fi
    echo "e2e: $passed passed, $failed failed ($((SECONDS - started)) s)"
    [ "$failed" -eq 0 ] || exit 1
}
trap finish EXIT
trap 'exit 130' INT TERM

check() {  # check "what is proven" FUNCTION [ARGS]: one PASS/FAIL line
    local title=$1; shift
    if "$@"; then
        passed=$((passed + 1)); echo "PASS $title"
    else
        failed=$((failed + 1)); echo "FAIL $title"
        say "last log lines of the stack:"
        compose logs --no-color --tail=15 orders payments 2>/dev/null | sed 's/^/    /' >&2 || true
    fi
}

eventually() {  # eventually COMMAND...: true once it succeeds within TIMEOUT s
    local deadline=$((SECONDS + TIMEOUT))
    until "$@"; do
        [ $SECONDS -lt $deadline ] || return 1
        sleep 0.5
    done
}

# ---------------------------------------------------------------- host side helpers
call() {  # call AS METHOD URL [JSON]: body, then the HTTP status on the last line
    local as=$1 method=$2 url=$3 body=${4:-} dir
    local auth=(--cacert "$PKI/ca.crt")
    case $as in none) dir="" ;; foreign/*) dir=$work/$as ;; *) dir=$PKI/$as ;; esac
    [ -z "$dir" ] || auth+=(--cert "$dir/chain.pem" --key "$dir/key.pem")
    curl -sS --max-time 10 "${auth[@]}" -X "$method" -w '\n%{http_code}' \
        ${body:+-H 'content-type: application/json' --data "$body"} "$url"
}

status_of() { tail -n1 <<<"$1"; }
json_field() { grep -o "\"$1\": *\"[^\"]*\"" <<<"$2" | head -n1 | sed 's/.*"\([^"]*\)"$/\1/'; }

logs_of() { compose logs --no-color "$1" 2>/dev/null; }

log_has() {  # log_has SERVICE FRAGMENT...: one log line holds every fragment
    local line
    line=$(logs_of "$1"); shift
    local fragment
    for fragment in "$@"; do line=$(grep -F -- "$fragment" <<<"$line" || true); done
    [ -n "$line" ]
}

served_serial() {  # the serial of the certificate a port presents (openssl's hex)
    openssl s_client -connect "127.0.0.1:$1" -servername localhost -verify_return_error \
        -CAfile "$PKI/ca.crt" -cert "$PKI/ops/chain.pem" -cert_chain "$PKI/ops/chain.pem" \
        -key "$PKI/ops/key.pem" </dev/null 2>/dev/null | openssl x509 -noout -serial 2>/dev/null
}

serves() { [ "$(served_serial "$1")" = "$2" ]; }  # serves PORT SERIAL

refused_quietly() { ! call "$1" GET "$ORDERS/health" >/dev/null 2>&1; }  # refused_quietly AS

quietly() {  # quietly COMMAND...: its output only when it fails
    local out
    out=$("$@" 2>&1) || { say "$* failed:"; printf "    %s\n" "$out" >&2; return 1; }
}

in_pki_container() {  # devpki in the image as the services' uid, like make docker-renew
    quietly compose run --rm --no-deps pki python -m devpki "$@"
}

psql_as() {  # psql_as NAME CONNINFO SQL: psql in a one-off postgres container, NAME's files
    local name=$1 conninfo=$2 sql=$3 mount=()
    [ "$name" = none ] || mount=(-v "$PKI/$name:/run/mtls/client:ro")
    local out status=0
    out=$(compose run --rm --no-deps -T "${mount[@]}" --entrypoint /usr/lib/postgresql/15/bin/psql \
        postgres "host=postgres port=5432 connect_timeout=10 $conninfo" -XAtqc "$sql" 2>&1) ||
        status=$?
    grep -v '^Creating .*_run' <<<"$out" || true  # compose v1 says so on stderr
    return "$status"
}

with_cert() {  # the conninfo of a verify-full TLS login with /run/mtls/client's certificate
    echo "sslmode=verify-full sslrootcert=/run/mtls/trust/ca.crt" \
        "sslcert=/run/mtls/client/chain.pem sslkey=/run/mtls/client/key.pem"
}

database_holds_the_settled_order() {
    local out
    out=$(psql_as orders "dbname=orders user=orders $(with_cert)" \
        "SELECT status FROM orders WHERE id = '$ORDER_ID'") || { say "$out"; return 1; }
    say "psql as orders (certificate, verify-full): order $ORDER_ID is $out"
    [ "$out" = settled ]
}

database_refuses_passwords_and_the_storefront() {
    local plain storefront claimed
    plain=$(psql_as none "dbname=orders user=orders sslmode=disable" "SELECT 1") && return 1
    storefront=$(psql_as storefront "dbname=orders user=storefront $(with_cert)" "SELECT 1") && return 1
    claimed=$(psql_as storefront "dbname=orders user=orders $(with_cert)" "SELECT 1") && return 1
    say "no TLS: ${plain##*FATAL:  }"
    say "storefront: ${storefront##*FATAL:  }; as orders: ${claimed##*FATAL:  }"
    grep -q 'no pg_hba.conf entry.*no encryption' <<<"$plain" &&
    grep -q 'role "storefront" does not exist' <<<"$storefront" &&
    grep -q 'certificate authentication failed for user "orders"' <<<"$claimed"
}

# ---------------------------------------------------------------- the checks
build_and_up() {
    "$here/images.sh" && "$here/../monitoring/image.sh" && "$here/up.sh" >"$work/up.txt" || return 1
    ORDERS=https://localhost:$(compose port orders 8443 | sed 's/.*://')
    PAYMENTS=https://localhost:$(compose port payments 8443 | sed 's/.*://')
    PROMETHEUS=http://127.0.0.1:$(compose port prometheus 9090 | sed 's/.*://')
    say "orders on $ORDERS, payments on $PAYMENTS, Prometheus on $PROMETHEUS, PKI in $PKI"
}

ORDER='{"items": [{"sku": "mtls-handbook", "quantity": 1}], "amount_minor": 2599, "currency": "EUR"}'

order_is() {  # order_is ID STATUS
    local answer
    answer=$(call storefront GET "$ORDERS/orders/$1") || return 1
    [ "$(json_field status "$answer")" = "$2" ]
}

order_is_paid_then_settled() {
    local answer
    answer=$(call storefront POST "$ORDERS/orders" "$ORDER") || return 1
    ORDER_ID=$(json_field id "$answer")
    local status; status=$(json_field status "$answer")
    say "POST /orders -> $(status_of "$answer") $ORDER_ID $status"
    [ "$(status_of "$answer")" = 201 ] && [ "$status" = paid ] || return 1
    eventually order_is "$ORDER_ID" settled
}

services_called_each_other_by_name() {
    # orders -> https://payments:8443 (payments saw principal orders), and
    # payments -> https://orders:8443 (orders saw principal payments, the event delivered).
    compose exec -T orders env | grep -qx 'ORDERS_PAYMENTS_URL=https://payments:8443' &&
    compose exec -T payments env | grep -qx 'PAYMENTS_ORDERS_URL=https://orders:8443' &&
    log_has payments '"event": "request"' '"principal": "orders"' '"path": "/payments"' '"status": 201' &&
    log_has orders '"event": "request"' '"principal": "payments"' \
        "\"path\": \"/orders/$ORDER_ID/payment-events\"" '"status": 200' &&
    log_has payments '"event": "event delivered"' "\"order_id\": \"$ORDER_ID\""
}

refusals() {  # refusals REASON: how many handshakes orders refused for that reason
    logs_of orders | grep -F '"tls handshake refused"' | grep -cF "\"reason\": \"$1\"" || true
}

refused() {  # refused AS REASON: no HTTP answer, and orders audits the refusal and why
    local before answer
    before=$(refusals "$2")
    if answer=$(call "$1" GET "$ORDERS/health" 2>&1) && [ "$(status_of "$answer")" != 000 ]; then
        say "$1 got an answer: $(tr '\n' ' ' <<<"$answer")"; return 1
    fi
    eventually more_refusals "$2" "$before" || { say "orders logged no '$2' refusal"; return 1; }
}

more_refusals() { [ "$(refusals "$1")" -gt "$2" ]; }

foreign_ca_client_is_refused() {
    # A second PKI, same names and trust domain, another CA: made in the image so the host needs no Python.
    mkdir -p "$work/foreign"
    [ "$(id -u)" -ne 0 ] || chown "$MTLS_UID:$MTLS_GID" "$work/foreign"
    quietly docker run --rm --network none --user "$MTLS_UID:$MTLS_GID" \
        -v "$work/foreign:/pki" "$MTLS_IMAGE" python -m devpki --dir /pki make-default || return 1
    refused foreign/storefront unknown_ca
}

demo_runs_inside_the_network() {  # make docker-demo: the storefront by service names
    local out
    out=$(compose run --rm --no-deps storefront 2>&1) || { printf '    %s\n' "$out" >&2; return 1; }
    grep -q "is settled; payments told orders over mTLS" <<<"$out" &&
    grep -q "^demo: done" <<<"$out"
}

storefront_may_not_call_payments() {
    local answer
    answer=$(call storefront GET "$PAYMENTS/payments?order_id=$ORDER_ID") || return 1
    [ "$(status_of "$answer")" = 403 ] && grep -q '"forbidden"' <<<"$answer"
}

renewal_is_served_without_restart() {
    local old new since=$SECONDS
    old=$(served_serial "${ORDERS##*:}")
    in_pki_container renew orders || return 1
    new=$(openssl x509 -noout -serial -in "$PKI/orders/cert.pem")
    if [ -z "$old" ] || [ "$old" = "$new" ]; then say "serial did not change: '$old'"; return 1; fi
    eventually serves "${ORDERS##*:}" "$new" ||
        { say "orders still serves $(served_serial "${ORDERS##*:}")"; return 1; }
    say "orders serves the renewed certificate ($old -> $new) after $((SECONDS - since)) s"
    # The renewed certificate is also orders' client certificate towards payments.
    order_is_paid_then_settled
}

revoked_storefront_is_refused_without_restart() {
    local started_before health since=$SECONDS
    started_before=$(docker inspect -f '{{.State.StartedAt}}' "$(compose ps -q orders)")
    in_pki_container revoke storefront || return 1
    eventually refused_quietly storefront || { say "storefront still accepted"; return 1; }
    say "revocation enforced after $((SECONDS - since)) s"
    health=$(call ops GET "$ORDERS/health") || return 1
    [ "$(status_of "$health")" = 200 ] &&
    grep -q '"revoked":1,' <<<"$health" &&  # /health lists the CRL in use, storefront in it
    [ "$(refusals revoked)" -gt 0 ] &&
    [ "$(docker inspect -f '{{.State.StartedAt}}' "$(compose ps -q orders)")" = "$started_before" ]
}

renewer_renews_a_leaf_inside_its_window() {  # a 1-day leaf issued 20 h ago is due
    local start current started_before since=$SECONDS
    started_before=$(docker inspect -f '{{.State.StartedAt}}' "$(compose ps -q orders)")
    start=$(date -u -d '-20 hours' +%Y-%m-%dT%H:%M:%SZ)
    in_pki_container issue orders --force --days 1 --not-before "$start" \
        --dns orders --dns localhost --ip 127.0.0.1 || return 1
    eventually log_has renewer '"certificate renewed"' '"leaf": "orders"' ||
        { say "the renewer did not renew orders"; return 1; }
    current=$(openssl x509 -noout -serial -in "$PKI/orders/cert.pem")
    eventually serves "${ORDERS##*:}" "$current" ||
        { say "orders serves $(served_serial "${ORDERS##*:}"), not $current"; return 1; }
    say "the renewer renewed orders, served after $((SECONDS - since)) s"
    sleep 3  # a renewed leaf is not due again: exactly one renewal
    local renewals health
    renewals=$(logs_of renewer | grep -c '"leaf": "orders"')
    health=$(call ops GET "$ORDERS/health") || return 1
    [ "$renewals" = 1 ] || { say "orders renewed $renewals times, not once"; return 1; }
    # A 1-day leaf is inside the 30-day warning window: /health says degraded, still 200.
    [ "$(status_of "$health")" = 200 ] && grep -q '"status":"degraded"' <<<"$health" &&
    [ "$(docker inspect -f '{{.State.StartedAt}}' "$(compose ps -q orders)")" = "$started_before" ]
}

inventory_lists_every_certificate() {  # make inventory's command, from the host, as ops
    local out py=.venv/bin/python
    [ -x "$py" ] || py=python3
    out=$(MTLS_PKI_DIR="$PKI" MTLS_IDENTITY=ops "$py" -m mtls inventory "$ORDERS" "$PAYMENTS" \
        --png "$work/inventory.png" 2>&1) || { printf '    %s\n' "$out" >&2; return 1; }
    sed 's/^/    /' <<<"$out" >&2
    grep -q '^orders  *leaf .*spiffe://demo.internal/orders ' <<<"$out" &&
    grep -q '^payments  *leaf .*spiffe://demo.internal/payments ' <<<"$out" &&
    grep -q '^orders, payments  *trusted_ca ' <<<"$out" &&
    grep -q '^orders, payments  *crl  *CRL #.* (1 revoked)' <<<"$out" &&
    [ -s "$work/inventory.png" ]
}

prometheus() {  # prometheus PATH PYTHON: the API's data, read by a Python expression
    curl -fsS --max-time 5 "$PROMETHEUS/api/v1/$1" |
        python3 -c "import json, sys; data = json.load(sys.stdin)['data']; sys.exit(0 if ($2) else 1)"
}

targets_up_over_mtls() {
    prometheus targets '{t["labels"]["job"]: (t["health"], t["scrapeUrl"][:8]) for t in data["activeTargets"]}
        == {j: ("up", "https://") for j in ("orders", "payments", "renewer")}'
}

prometheus_scrapes_every_service_over_mtls() {
    eventually targets_up_over_mtls ||
        { say "targets: $(curl -sS "$PROMETHEUS/api/v1/targets" | head -c 1500)"; return 1; }
    # Prometheus presented the ops certificate: orders' access log names it.
    log_has orders '"event": "request"' '"principal": "ops"' '"path": "/metrics"' '"status": 200'
}

expiry_alert_fires_for_the_short_lived_orders_leaf() {  # the 1-day leaf of the renewer check
    local TIMEOUT=90 since=$SECONDS  # a scrape and an evaluation every 15 s
    eventually prometheus alerts '[a for a in data["alerts"] if a["state"] == "firing"
        and a["labels"]["alertname"] == "CertificateExpiresSoon" and a["labels"]["job"] == "orders"]' ||
        { say "alerts: $(curl -sS "$PROMETHEUS/api/v1/alerts" | head -c 1500)"; return 1; }
    say "CertificateExpiresSoon fired for orders after $((SECONDS - since)) s"
}

down_removes_everything() {
    compose down --volumes --remove-orphans >/dev/null 2>&1 || return 1
    [ -z "$(docker ps -aq --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME")" ] &&
    [ -z "$(docker volume ls -q --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME")" ]
}

# ---------------------------------------------------------------- run
say "project $COMPOSE_PROJECT_NAME, image $MTLS_IMAGE (base $BASE_IMAGE), DOCKER_HOST=$DOCKER_HOST"
check "images build, PKI made by the pki step, PostgreSQL, orders, payments and the renewer healthy, Prometheus ready" \
    build_and_up
[ "$failed" -eq 0 ] || exit 1
check "storefront's order is paid by payments and settled by its event" order_is_paid_then_settled
check "PostgreSQL holds it: psql with the orders certificate reads it settled" \
    database_holds_the_settled_order
check "PostgreSQL refuses a login without TLS (no password line) and the storefront's certificate" \
    database_refuses_passwords_and_the_storefront
check "orders and payments called each other by service name over mTLS" \
    services_called_each_other_by_name
check "a client without a certificate is refused" refused none certificate_required
check "a client from a foreign CA is refused" foreign_ca_client_is_refused
check "storefront is denied by payments' policy (403)" storefront_may_not_call_payments
check "make docker-demo plays the demo inside the compose network" demo_runs_inside_the_network
check "a renewed orders certificate is served without a restart" renewal_is_served_without_restart
check "a revoked storefront is refused without a restart, its CRL on /health" \
    revoked_storefront_is_refused_without_restart
check "PostgreSQL reloaded the new CRL by itself, without a restart" \
    eventually log_has postgres "new TLS material (certificate, CA or CRL): reloaded"
check "make inventory lists both leaves, the shared CA and the CRL over mTLS" \
    inventory_lists_every_certificate
check "the renewer renews a leaf inside its window; orders serves it, no restart" \
    renewer_renews_a_leaf_inside_its_window
check "Prometheus scrapes orders, payments and the renewer over mTLS as ops" \
    prometheus_scrapes_every_service_over_mtls
check "Prometheus fires CertificateExpiresSoon for the one-day orders leaf" \
    expiry_alert_fires_for_the_short_lived_orders_leaf
if [ "${MTLS_E2E_KEEP:-0}" != 1 ]; then
    check "down removes containers and volumes" down_removes_everything
fi
