"""The whole chain: storefront -> orders -> payments, and the settlement event back.

Four pairs of services run side by side, measured round by round:
- `mtls`: the services themselves over mTLS (`python -m orders`, `python -m
  payments`, CRL checking on), each on its SQLite file (the embedded default);
- `plain`: the same apps wired over plain HTTP by `bench.serve chain-plain`;
- `mtls+postgres`: the mTLS services on a real PostgreSQL (harness.postgres,
  Debian's postgresql-15), logging in by certificate over TLS 1.3;
- `mtls+postgres-plain-tcp`: the same, but the database hop in plain TCP
  (`bench.serve plain-database`; bench only): what TLS costs on that hop.
The load generator is the storefront, creating orders at fixed concurrency;
every order makes orders call payments, and payments' outbox sends the
settlement back to orders while the load runs. For the mTLS pairs both
servers' handshake counters are read when the measuring window opens and
closes; for the PostgreSQL pairs the server's own CPU (postmaster and
backends) is measured apart from the services'.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devpki import DevPKI

from bench.keepalive import load
from bench.pki import server_env
from bench.procs import Worker
from bench.profile import Profile
from harness.ports import free_port
from harness.postgres import PostgreSQL
from harness.processes import REPO, ServerProcess

ORDER = {"items": [{"sku": "bench", "quantity": 1}], "amount_minor": 1999, "currency": "EUR"}
MODES = ("plain", "mtls", "mtls+postgres", "mtls+postgres-plain-tcp")
SOURCE_DIRS = (".", "shared", "services", "certs/scripts")  # a source tree's import roots


@dataclass
class Pair:
    """One mode's orders and payments, and the PostgreSQL under them (if any)."""

    servers: dict[str, ServerProcess]
    postgres: PostgreSQL | None = None

    def events_pending(self, data: Path, mode: str) -> int:
        """Settlement events not yet delivered to orders when the window closed (the backlog)."""
        sql = "SELECT count(*) FROM outbox WHERE delivered_at IS NULL"
        if self.postgres is not None:
            return int(self.postgres.query("payments", sql)[0][0])
        with contextlib.closing(sqlite3.connect(data / f"{mode}-payments.db")) as db:
            (count,) = db.execute(sql).fetchone()
        return int(count)

    def stop(self) -> None:
        for server in self.servers.values():
            server.stop()
        if self.postgres is not None:
            self.postgres.close()


def _module(mode: str, service: str) -> list[str]:
    if mode == "plain":
        return ["bench.serve", "chain-plain", service]
    if mode == "mtls+postgres-plain-tcp":
        return ["bench.serve", "plain-database", service]
    return [service]


def start_pair(
    mode: str, pki: Path, data: Path, logs: Path, tree: Path | None = None, label: str = ""
) -> Pair:
    """One mode's pair; from the source `tree` (a worktree of another commit) if given."""
    ports = {"orders": free_port(), "payments": free_port()}
    scheme = "http" if mode == "plain" else "https"
    postgres = None
    if mode.startswith("mtls+postgres"):
        postgres = PostgreSQL(DevPKI(pki), plain_tcp_for_bench=mode.endswith("plain-tcp"))
    apps = {
        "ORDERS_PORT": str(ports["orders"]),
        "ORDERS_DB_PATH": str(data / f"{label}{mode}-orders.db"),
        "ORDERS_PAYMENTS_URL": f"{scheme}://127.0.0.1:{ports['payments']}",
        "PAYMENTS_PORT": str(ports["payments"]),
        "PAYMENTS_DB_PATH": str(data / f"{label}{mode}-payments.db"),
        "PAYMENTS_ORDERS_URL": f"{scheme}://127.0.0.1:{ports['orders']}",
        "PAYMENTS_SETTLE_DELAY": "0.2",
        "PAYMENTS_OUTBOX_INTERVAL": "0.1",
    }
    if postgres is not None:
        apps["ORDERS_DATABASE_URL"] = postgres.url("orders")
        apps["PAYMENTS_DATABASE_URL"] = postgres.url("payments")
    if tree is not None:
        apps["PYTHONPATH"] = ":".join(str(tree / folder) for folder in SOURCE_DIRS)
    servers = {}
    for service in ("payments", "orders"):
        module = _module(mode, service)
        servers[service] = ServerProcess(
            module[0],
            {**server_env(pki, service), **apps},
            ports[service],
            module[1:],
            log=logs / f"chain-{label}{mode}-{service}.log",
            name=f"{label}{mode}-{service}",
            cwd=tree or REPO,
        )
    return Pair(servers, postgres)


def load_orders(
    loadgen: Worker, pair: Pair, mode: str, pki: Path, data: Path, profile: Profile, label: str = ""
) -> dict[str, Any]:
    """One window of storefront orders against a pair: CPU, latency, handshakes, backlog."""
    orders, payments = pair.servers["orders"], pair.servers["payments"]
    extra = ["--method", "POST", "--path", "/orders", "--body", json.dumps(ORDER)]
    if mode != "plain":
        extra += ["--handshakes-of", str(orders.port), "--handshakes-of", str(payments.port)]
    client_pki = None if mode == "plain" else pki
    pids = [orders.pid, payments.pid]
    database = pair.postgres.postmaster_pid() if pair.postgres else None
    result = load(
        loadgen, orders.port, client_pki, profile, pids, extra, profile.chain_warmup, database
    )
    result["events_pending"] = pair.events_pending(data, f"{label}{mode}")
    return result


def measure(pki: Path, data: Path, logs: Path, profile: Profile) -> dict[str, list[dict[str, Any]]]:
    pairs = {mode: start_pair(mode, pki, data, logs) for mode in MODES}
    runs: dict[str, list[dict[str, Any]]] = {mode: [] for mode in MODES}
    loadgen = Worker("bench.loadgen", logs / "chain-loadgen.log")
    try:
        for pair in pairs.values():
            for server in pair.servers.values():
                server.wait_listening()
        for round_no in range(profile.rounds):
            order = MODES[round_no % len(MODES) :] + MODES[: round_no % len(MODES)]
            for mode in order:
                runs[mode].append(load_orders(loadgen, pairs[mode], mode, pki, data, profile))
    finally:
        loadgen.stop()
        for pair in pairs.values():
            pair.stop()
    return runs
