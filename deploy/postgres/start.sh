#!/usr/bin/env bash
# PostgreSQL in compose (the official postgres image, or the offline one built from
# Debian's package: scripts/docker/postgres-image.sh): TLS 1.3 and client
# certificates only, a role and a database per service, no password anywhere.
#
# In compose it starts as root for two things only, then PostgreSQL runs as `postgres`:
#   - the server's key must belong to the user that runs the server (mode 0600), and
#     the mounted one belongs to MTLS_UID: a copy goes to /var/lib/postgresql/tls;
#   - the first start creates the cluster (initdb) and the roles (roles.sql).
# Started as another user (Kubernetes: the image's postgres user, the key given to its
# group by fsGroup, mode 0640, which PostgreSQL accepts from a root-owned file), it uses
# the mounted files where they are. Without a CRL file (cert-manager issues none: its
# certificates are short-lived) ssl_crl_file is left empty.
# Every few seconds it compares the mounted certificate, key, CA and CRL with its
# copies; on a change (a renewal, a revocation) it copies them again and reloads
# PostgreSQL (pg_ctl reload: new connections get the new files, nothing restarts).
set -euo pipefail

BIN=/usr/lib/postgresql/15/bin
PGDATA=${PGDATA:-/var/lib/postgresql/data}
CONF=/etc/mtls/postgres
OWN=/run/mtls/own TRUST=/run/mtls/trust TLS=/var/lib/postgresql/tls
WATCH_SECONDS=${MTLS_POSTGRES_WATCH_SECONDS:-5}
if [ "$(id -u)" = 0 ]; then
    as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"; }
else
    as_postgres() { "$@"; }
fi
say() { echo "postgres-start: $*" >&2; }

CRL=$TRUST/chain-crl.pem
sources() { echo "$OWN/chain.pem $OWN/key.pem $TRUST/ca.crt"; [ ! -e "$CRL" ] || echo "$CRL"; }
fingerprint() { cat $(sources) | sha256sum; }
copy_tls() {
    [ "$(id -u)" = 0 ] || return 0  # not root: the files are used where they are mounted
    install -d -o postgres -g postgres -m 0700 "$TLS"
    install -o postgres -g postgres -m 0600 "$OWN/key.pem" "$TLS/server.key"
    install -o postgres -g postgres -m 0644 "$OWN/chain.pem" "$TLS/server.crt"
    install -o postgres -g postgres -m 0644 "$TRUST/ca.crt" "$TLS/ca.crt"
    [ ! -e "$CRL" ] || install -o postgres -g postgres -m 0644 "$CRL" "$TLS/chain-crl.pem"
}
settings=(-c "config_file=$CONF/postgresql.conf")
if [ "$(id -u)" != 0 ]; then
    settings+=(-c "ssl_cert_file=$OWN/chain.pem" -c "ssl_key_file=$OWN/key.pem"
               -c "ssl_ca_file=$TRUST/ca.crt" -c "ssl_crl_file=$CRL")
fi
[ -e "$CRL" ] || settings+=(-c "ssl_crl_file=")

copy_tls
[ "$(id -u)" != 0 ] || install -d -o postgres -g postgres -m 2775 /var/run/postgresql
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    say "first start: initdb and the roles of deploy/postgres/roles.sql"
    if [ "$(id -u)" = 0 ]; then install -d -o postgres -g postgres -m 0700 "$PGDATA"
    else install -d -m 0700 "$PGDATA"; fi
    as_postgres "$BIN/initdb" -D "$PGDATA" -U postgres --auth=reject -E UTF8 >/dev/null
    as_postgres "$BIN/pg_ctl" -D "$PGDATA" -w -o "${settings[*]} -c listen_addresses=''" start >/dev/null
    as_postgres "$BIN/psql" -h /var/run/postgresql -U postgres -d postgres -v ON_ERROR_STOP=1 -Xq -f "$CONF/roles.sql"
    as_postgres "$BIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null
fi

as_postgres "$BIN/postgres" -D "$PGDATA" "${settings[@]}" &
server=$!
trap 'kill -TERM "$server" 2>/dev/null' TERM INT

watch() {
    local seen now
    seen=$(fingerprint)
    while sleep "$WATCH_SECONDS"; do
        now=$(fingerprint 2>/dev/null) || continue  # a file being replaced: next time
        if [ "$now" != "$seen" ]; then
            copy_tls && as_postgres "$BIN/pg_ctl" -D "$PGDATA" reload >/dev/null \
                && say "new TLS material (certificate, CA or CRL): reloaded" && seen=$now
        fi
    done
}
watch &
watcher=$!
status=0
wait "$server" || status=$?
# After a TERM, wait again: the first wait returns when the trap runs.
if kill -0 "$server" 2>/dev/null; then wait "$server" || status=$?; fi
kill "$watcher" 2>/dev/null || true
exit "$status"
