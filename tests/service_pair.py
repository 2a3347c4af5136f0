"""Both services, started as real processes on loopback, for integration tests.

    with ServicePair.start(pki_dir, tmp_path) as pair:
        pair.client("storefront").post(pair.orders.url + "/orders", json=...)

Each pair gets free ports, its own databases (SQLite files under `data_dir`,
or, with `database="postgresql"`, fresh databases in the PKI's PostgreSQL
cluster, logged into by certificate), CRL checking (when the PKI has a
crl.pem) and a fast outbox/retry cadence so tests run in seconds.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx
from storefront.load import ORDER

from harness.clients import https
from harness.ports import free_port
from harness.postgres import PostgreSQL, cluster_for
from harness.processes import ServerProcess, tls_env

DatabaseKind = Literal["sqlite", "postgresql"]
DATABASES: tuple[DatabaseKind, ...] = ("sqlite", "postgresql")


@dataclass
class ServicePair:
    pki_dir: Path
    data_dir: Path
    orders_port: int
    payments_port: int
    orders_env: dict[str, str] = field(default_factory=dict)
    payments_env: dict[str, str] = field(default_factory=dict)
    orders: ServerProcess | None = None
    payments: ServerProcess | None = None
    postgres: PostgreSQL | None = None

    @classmethod
    @contextmanager
    def start(cls, pki_dir: Path, data_dir: Path, **options: Any) -> Iterator[ServicePair]:
        """Start both (side by side: neither calls the other at start-up); `options` as for
        `configured`."""
        pair = cls.configured(pki_dir, data_dir, **options)
        try:
            pair.payments = ServerProcess("payments", pair.payments_env, pair.payments_port)
            pair.orders = ServerProcess("orders", pair.orders_env, pair.orders_port)
            pair.payments.wait_listening()
            pair.orders.wait_listening()
            yield pair
        finally:
            pair.stop()

    @classmethod
    def configured(
        cls,
        pki_dir: Path,
        data_dir: Path,
        *,
        orders_env: Mapping[str, str] | None = None,
        payments_env: Mapping[str, str] | None = None,
        database: DatabaseKind = "sqlite",
        **env: str,
    ) -> ServicePair:
        """Ports, empty databases and each service's environment; nothing started yet.

        `env` applies to both (e.g. MTLS_MIN_TLS_VERSION), `orders_env`/`payments_env` to
        one (e.g. a certificate from another CA)."""
        pair = cls(pki_dir, data_dir, free_port(), free_port())
        if database == "postgresql":
            pair.postgres = cluster_for(pki_dir)
            pair.postgres.reset()
        pair.orders_env = pair._env("orders", {**env, **(orders_env or {})})
        pair.payments_env = pair._env("payments", {**env, **(payments_env or {})})
        return pair

    def _env(self, name: str, extra: dict[str, str]) -> dict[str, str]:
        crl = self.pki_dir / "crl.pem"
        env = tls_env(self.pki_dir, name, **({"MTLS_CRL": str(crl)} if crl.exists() else {}))
        env.update(
            {
                "ORDERS_PORT": str(self.orders_port),
                "ORDERS_DB_PATH": str(self.data_dir / "orders.db"),
                "ORDERS_PAYMENTS_URL": f"https://localhost:{self.payments_port}",
                "ORDERS_PAYMENT_RETRY_INTERVAL": "0.5",
                "PAYMENTS_PORT": str(self.payments_port),
                "PAYMENTS_DB_PATH": str(self.data_dir / "payments.db"),
                "PAYMENTS_ORDERS_URL": f"https://localhost:{self.orders_port}",
                "PAYMENTS_SETTLE_DELAY": "0.2",
                "PAYMENTS_OUTBOX_INTERVAL": "0.1",
                "PAYMENTS_OUTBOX_MAX_BACKOFF": "1.0",
            }
        )
        if self.postgres is not None:
            env["ORDERS_DATABASE_URL"] = self.postgres.url("orders")
            env["PAYMENTS_DATABASE_URL"] = self.postgres.url("payments")
        env.update(extra)
        return env

    def start_orders(self) -> ServerProcess:
        self.orders = ServerProcess("orders", self.orders_env, self.orders_port).wait_listening()
        return self.orders

    def start_payments(self) -> ServerProcess:
        self.payments = ServerProcess(
            "payments", self.payments_env, self.payments_port
        ).wait_listening()
        return self.payments

    def stop(self) -> None:
        """Stop both at once: each may wait up to a second for idle TLS connections to close."""
        running = [server for server in (self.orders, self.payments) if server is not None]
        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(ServerProcess.stop, running))

    @property
    def orders_url(self) -> str:
        return f"https://localhost:{self.orders_port}"

    @property
    def payments_url(self) -> str:
        return f"https://localhost:{self.payments_port}"

    def client(self, name: str | None, **kwargs: Any) -> httpx.Client:
        """An httpx client presenting `name`'s certificate from this pair's PKI."""
        return https(self.pki_dir, name, **kwargs)

    def wait_for_status(self, order_id: str, status: str, timeout: float = 15.0) -> dict[str, Any]:
        with self.client("storefront") as client:
            deadline = time.monotonic() + timeout
            while True:
                order: dict[str, Any] = client.get(f"{self.orders_url}/orders/{order_id}").json()
                if order["status"] == status or time.monotonic() > deadline:
                    assert order["status"] == status, order
                    return order
                time.sleep(0.1)

    def query(self, service: str, sql: str, *args: Any) -> list[Any]:
        """Read a service's database directly (`?` placeholders, rows by name or index);
        SQLite in WAL mode is safe to read beside the running service."""
        if self.postgres is not None:
            numbered = sql.split("?")
            sql = numbered[0] + "".join(f"${n}{rest}" for n, rest in enumerate(numbered[1:], 1))
            return self.postgres.query(service, sql, *args)
        with closing(sqlite3.connect(self.data_dir / f"{service}.db")) as db:
            db.row_factory = sqlite3.Row
            return list(db.execute(sql, args))

    def create_order(self, body: Any = ORDER, key: str | None = None) -> httpx.Response:
        """POST /orders as the storefront, with an Idempotency-Key when given."""
        headers = {"Idempotency-Key": key} if key is not None else {}
        with self.client("storefront") as client:
            return client.post(f"{self.orders_url}/orders", json=body, headers=headers)

    def payments_of(self, order_id: str) -> list[Any]:
        """Every payment row payments holds for an order (reconciliation: at most one)."""
        return self.query("payments", "SELECT * FROM payments WHERE order_id = ?", order_id)

    def outbox_of(self, order_id: str) -> list[Any]:
        """payments' outbox rows (settled/refunded events) for an order, oldest first."""
        return self.query(
            "payments", "SELECT * FROM outbox WHERE order_id = ? ORDER BY seq", order_id
        )

    def events_of(self, order_id: str) -> list[Any]:
        """The payment events orders has recorded for an order."""
        sql = "SELECT * FROM payment_events WHERE order_id = ? ORDER BY received_at"
        return self.query("orders", sql, order_id)

    def count(self, service: str, table: str) -> int:
        return int(self.query(service, f"SELECT count(*) FROM {table}")[0][0])  # noqa: S608
