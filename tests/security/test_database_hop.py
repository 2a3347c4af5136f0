"""The database hop, on a real PostgreSQL: certificates only, least privilege, rotation.

PostgreSQL (Debian's postgresql-15, `harness.postgres`) accepts TLS 1.3 and
client certificates only (`hostssl ... cert`); the role is the certificate's
CN, and each service's role owns its own database and nothing else. The
clients here use the toolkit's own client context, as the services do.
"""

from __future__ import annotations

import asyncio
import re
import ssl
import subprocess
from collections.abc import Callable
from pathlib import Path

import asyncpg
import pytest
from devpki import DevPKI
from mtls import Role, TLSContexts, TLSSettings
from service_pair import ORDER, ServicePair

from harness.polling import eventually
from harness.postgres import PostgreSQL, cluster_for

REPO = Path(__file__).resolve().parents[2]


def tls_of(pki: DevPKI, name: str) -> ssl.SSLContext:
    """The toolkit's client context for `name`: verify-full, TLS 1.3, the project's CA."""
    settings = TLSSettings(pki_dir=pki.directory, identity=name)
    return TLSContexts(settings, (Role.CLIENT,)).client


def login(pg: PostgreSQL, role: str, database: str, tls: ssl.SSLContext | bool) -> list[str]:
    """Log in over TCP and say who the server thinks we are, or raise what it refused."""

    async def run() -> list[str]:
        connection = await asyncpg.connect(
            host="localhost", port=pg.port, user=role, database=database, ssl=tls, timeout=10
        )
        try:
            row = await connection.fetchrow(
                "SELECT current_user, s.version, s.client_dn FROM pg_stat_ssl s "
                "WHERE s.pid = pg_backend_pid()"
            )
            assert row is not None
            return [str(value) for value in row]
        finally:
            await connection.close()

    return asyncio.run(run())


def refusal(call: Callable[[], object]) -> str:
    """What the server (or the TLS layer) said when it refused."""
    with pytest.raises((asyncpg.PostgresError, OSError, ConnectionError)) as refused:
        call()
    return f"{type(refused.value).__name__}: {refused.value}"


@pytest.fixture(scope="module")
def pg(default_pki: DevPKI) -> PostgreSQL:
    cluster = cluster_for(default_pki.directory)
    cluster.reset()
    return cluster


@pytest.mark.parametrize("service", ["orders", "payments"])
def test_each_service_logs_in_to_its_own_database_by_certificate_over_tls13(
    default_pki: DevPKI, pg: PostgreSQL, service: str
) -> None:
    role, version, client_dn = login(pg, service, service, tls_of(default_pki, service))
    assert (role, version) == (service, "TLSv1.3")
    assert client_dn.endswith(f"/CN={service}")


def test_the_orders_certificate_cannot_reach_payments_data(
    default_pki: DevPKI, pg: PostgreSQL
) -> None:
    orders = tls_of(default_pki, "orders")
    as_itself = refusal(lambda: login(pg, "orders", "payments", orders))
    assert 'permission denied for database "payments"' in as_itself
    as_payments = refusal(lambda: login(pg, "payments", "payments", orders))
    assert 'certificate authentication failed for user "payments"' in as_payments


@pytest.mark.parametrize("name", ["storefront", "ops"])
def test_storefront_and_ops_certificates_cannot_log_in_at_all(
    default_pki: DevPKI, pg: PostgreSQL, name: str
) -> None:
    tls = tls_of(default_pki, name)
    assert f'role "{name}" does not exist' in refusal(lambda: login(pg, name, "orders", tls))
    claimed = refusal(lambda: login(pg, "orders", "orders", tls))
    assert 'certificate authentication failed for user "orders"' in claimed


def test_neither_a_password_nor_tls_without_a_certificate_logs_in(
    default_pki: DevPKI, pg: PostgreSQL
) -> None:
    async def with_password() -> None:
        guess = {"password": "guess"}  # sent over plain TCP, to be refused
        await asyncpg.connect(host="localhost", port=pg.port, user="orders", database="orders",
                              ssl=False, timeout=10, **guess)  # fmt: skip

    plain = refusal(lambda: asyncio.run(with_password()))
    assert "no pg_hba.conf entry" in plain
    assert "no encryption" in plain
    anonymous = ssl.create_default_context(cafile=default_pki.ca_cert_path)
    no_certificate = refusal(lambda: login(pg, "orders", "orders", anonymous))
    assert "connection requires a valid client certificate" in no_certificate


def test_a_revoked_service_certificate_is_refused_at_its_next_login_without_a_restart(
    new_pki: Callable[..., DevPKI],
) -> None:
    pki = new_pki()
    pg = cluster_for(pki.directory)
    assert login(pg, "orders", "orders", tls_of(pki, "orders"))[0] == "orders"
    postmaster = pg.postmaster_pid()

    pki.revoke("orders")
    pg.publish_crl()  # the new CRL, then SELECT pg_reload_conf()

    refused = refusal(lambda: login(pg, "orders", "orders", tls_of(pki, "orders")))
    assert re.search(r"revoked|SSL|closed|reset", refused), refused
    assert "could not accept SSL connection: certificate verify failed" in pg.log()
    assert pg.postmaster_pid() == postmaster, "the server restarted"
    assert login(pg, "payments", "payments", tls_of(pki, "payments"))[0] == "payments"


def test_after_a_certificate_reload_new_database_connections_present_the_new_certificate(
    new_pki: Callable[..., DevPKI], tmp_path: Path
) -> None:
    pki = new_pki()
    with ServicePair.start(pki.directory, tmp_path, database="postgresql") as pair:
        assert pair.postgres is not None
        assert pair.orders is not None
        assert pair.create_order().status_code == 201
        old = pki.leaf("orders").serial
        assert serials_logged_in(pair.postgres, "orders") == {old}

        new = pki.renew("orders").serial
        pair.orders.wait_for_event("tls material reloaded", serial=f"{new:x}")

        def only_the_new_serial() -> bool:
            assert pair.create_order(ORDER).status_code == 201
            return serials_logged_in(pair.postgres, "orders") == {new}  # type: ignore[union-attr]

        eventually(only_the_new_serial, "orders' database connections on the new certificate")
        pair.orders.wait_for_event("database pool renewed: new TLS material")


def serials_logged_in(pg: PostgreSQL, role: str) -> set[int]:
    """The client certificate serials of `role`'s open connections, as the server saw them."""
    rows = pg.query(
        "postgres",
        "SELECT s.client_serial FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) "
        "WHERE a.usename = $1",
        role,
    )
    return {int(row[0]) for row in rows}


def test_a_service_that_cannot_log_in_refuses_to_start_naming_the_database(
    default_pki: DevPKI, new_pki: Callable[..., DevPKI], tmp_path: Path
) -> None:
    foreign = new_pki().directory / "payments"  # same name, another CA: PostgreSQL refuses it
    impostor = {"MTLS_CERT": str(foreign / "chain.pem"), "MTLS_KEY": str(foreign / "key.pem")}
    with (
        pytest.raises(RuntimeError) as exited,
        ServicePair.start(
            default_pki.directory, tmp_path, database="postgresql", payments_env=impostor
        ),
    ):
        pass
    assert re.search(r"payments: cannot start: PostgreSQL payments@localhost:\d+/payments: ",
                     str(exited.value)), exited.value  # fmt: skip


def test_a_database_url_with_a_password_is_refused_in_one_line(
    default_pki: DevPKI, pg: PostgreSQL, tmp_path: Path
) -> None:
    url = pg.url("orders").replace("orders@", "orders:secret@")
    with (
        pytest.raises(RuntimeError) as exited,
        ServicePair.start(default_pki.directory, tmp_path, orders_env={"ORDERS_DATABASE_URL": url}),
    ):
        pass
    assert "the database URL carries a password: remove it" in str(exited.value)
    assert "secret" not in str(exited.value)


# libpq's and the postgres image's password variables, a password in a conninfo string,
# and a URL with user:password@. The [P] classes match a plain P; they keep this file from
# being a hit of the tree-wide search itself (this test's, or any `git grep`).
PASSWORD_SETTINGS = re.compile(
    r"PG[P]ASSWORD|POSTGRES_[P]ASSWORD|\.pg[p]ass|\b(host|dbname|user)=\S+.*\bpassword="
    r"|postgres(ql)?(\+\w+)?://[^/@\s:]+:[^/@\s]+@",
    re.IGNORECASE,
)


def test_no_file_in_the_tree_sets_a_database_password() -> None:
    files = subprocess.run(
        ["git", "-C", str(REPO), "ls-files"], capture_output=True, text=True, check=True
    ).stdout.split()
    found = []
    for name in files:
        path = REPO / name
        if not path.is_file() or path.suffix in {".png", ".p12"}:
            continue
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if PASSWORD_SETTINGS.search(line):
                found.append(f"{name}:{number}: {line.strip()}")
    assert found == [], "\n".join(found)
