"""The schema at start-up, on both databases: migrated to the code's head, never past it.

Before a service listens it runs its Alembic revisions (services/*/migrations/);
a database whose revision this code does not know was migrated by a newer
version, and the service refuses to start in one line rather than write rows
that schema would misread.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from devpki import DevPKI
from service_pair import DatabaseKind, ServicePair

from harness.ports import free_port
from harness.processes import ServerProcess


def set_revision(pair: ServicePair, service: str, revision: str) -> None:
    """What a newer version's migration leaves behind: a revision this code lacks."""
    sql = f"UPDATE alembic_version SET version_num = '{revision}'"  # noqa: S608
    if pair.postgres is not None:
        pair.postgres.psql(sql, database=service)
        return
    import sqlite3

    with sqlite3.connect(pair.data_dir / f"{service}.db") as db:
        db.execute(sql)


@pytest.mark.parametrize("service", ["orders", "payments"])
def test_a_service_refuses_to_start_on_a_schema_newer_than_its_code(
    default_pki: DevPKI, tmp_path: Path, database: DatabaseKind, service: str
) -> None:
    with ServicePair.start(default_pki.directory, tmp_path, database=database) as pair:
        assert pair.create_order().status_code == 201
        (head,) = pair.query(service, "SELECT version_num FROM alembic_version")[0]
        running = pair.orders if service == "orders" else pair.payments
        assert running is not None
        running.stop()
        set_revision(pair, service, "f00dfeed0002")
        env = pair.orders_env if service == "orders" else pair.payments_env
        port = pair.orders_port if service == "orders" else pair.payments_port
        with pytest.raises(RuntimeError) as exited:
            ServerProcess(service, env, port).wait_listening()

    lines = [line for line in str(exited.value).splitlines()[1:] if line.strip()]
    assert lines == [
        f"{service}: cannot start: the {service} database is at schema revision f00dfeed0002, "
        f"newer than this code (head {head}): run the newer version, or restore the database "
        "it had"
    ], lines


REPLICAS = 4


@pytest.mark.parametrize("service", ["orders", "payments"])
def test_replicas_starting_together_on_an_empty_database_all_start(
    default_pki: DevPKI, tmp_path: Path, database: DatabaseKind, service: str
) -> None:
    """An orchestrator starts every replica at once; exactly one creates the schema and the
    others wait for it (each migrated in a race once: "type alembic_version already exists")."""
    pair = ServicePair.configured(default_pki.directory, tmp_path, database=database)
    env = pair.orders_env if service == "orders" else pair.payments_env
    port_setting = f"{service.upper()}_PORT"
    replicas = []
    try:
        for _ in range(REPLICAS):
            port = free_port()
            replicas.append(ServerProcess(service, {**env, port_setting: str(port)}, port))
        for replica in replicas:
            replica.wait_listening(timeout=60)
    finally:
        for replica in replicas:
            replica.stop()
    assert len(pair.query(service, "SELECT version_num FROM alembic_version")) == 1
