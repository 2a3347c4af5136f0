"""The whole chain: storefront -> orders -> payments, and the settlement event back.

Two pairs of services run side by side: the services themselves over mTLS
(`python -m orders`, `python -m payments`, CRL checking on), and the same
apps wired over plain HTTP by `bench.serve chain-plain`. The load generator
is the storefront, creating orders at fixed concurrency; every order makes
orders call payments, and payments' outbox sends the settlement back to
orders while the load runs. For the mTLS pair both servers' handshake
counters are read when the measuring window opens and closes.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from pathlib import Path
from typing import Any

from bench.keepalive import load
from bench.pki import server_env
from bench.procs import Worker
from bench.profile import Profile
from harness.ports import free_port
from harness.processes import ServerProcess

ORDER = {"items": [{"sku": "bench", "quantity": 1}], "amount_minor": 1999, "currency": "EUR"}
MODES = ("plain", "mtls")


def _pair(mode: str, pki: Path, data: Path, logs: Path) -> dict[str, ServerProcess]:
    ports = {"orders": free_port(), "payments": free_port()}
    scheme = "https" if mode == "mtls" else "http"
    apps = {
        "ORDERS_PORT": str(ports["orders"]),
        "ORDERS_DB_PATH": str(data / f"{mode}-orders.db"),
        "ORDERS_PAYMENTS_URL": f"{scheme}://127.0.0.1:{ports['payments']}",
        "PAYMENTS_PORT": str(ports["payments"]),
        "PAYMENTS_DB_PATH": str(data / f"{mode}-payments.db"),
        "PAYMENTS_ORDERS_URL": f"{scheme}://127.0.0.1:{ports['orders']}",
        "PAYMENTS_SETTLE_DELAY": "0.2",
        "PAYMENTS_OUTBOX_INTERVAL": "0.1",
    }
    servers = {}
    for service in ("payments", "orders"):
        module = [service] if mode == "mtls" else ["bench.serve", "chain-plain", service]
        servers[service] = ServerProcess(
            module[0],
            {**server_env(pki, service), **apps},
            ports[service],
            module[1:],
            log=logs / f"chain-{mode}-{service}.log",
            name=f"{mode}-{service}",
        )
    return servers


def events_pending(payments_db: Path) -> int:
    """Settlement events not yet delivered to orders when the window closed (the backlog)."""
    with contextlib.closing(sqlite3.connect(payments_db)) as db:
        (count,) = db.execute("SELECT count(*) FROM outbox WHERE delivered_at IS NULL").fetchone()
    return int(count)


def measure(pki: Path, data: Path, logs: Path, profile: Profile) -> dict[str, list[dict[str, Any]]]:
    pairs = {mode: _pair(mode, pki, data, logs) for mode in MODES}
    runs: dict[str, list[dict[str, Any]]] = {mode: [] for mode in MODES}
    loadgen = Worker("bench.loadgen", logs / "chain-loadgen.log")
    try:
        for pair in pairs.values():
            for server in pair.values():
                server.wait_listening()
        for round_no in range(profile.rounds):
            for mode in MODES[round_no % 2 :] + MODES[: round_no % 2]:
                orders, payments = pairs[mode]["orders"], pairs[mode]["payments"]
                extra = ["--method", "POST", "--path", "/orders", "--body", json.dumps(ORDER)]
                if mode == "mtls":
                    extra += ["--handshakes-of", str(orders.port)]
                    extra += ["--handshakes-of", str(payments.port)]
                client_pki = pki if mode == "mtls" else None
                pids = [orders.pid, payments.pid]
                result = load(
                    loadgen, orders.port, client_pki, profile, pids, extra, profile.chain_warmup
                )
                result["events_pending"] = events_pending(data / f"{mode}-payments.db")
                runs[mode].append(result)
    finally:
        loadgen.stop()
        for pair in pairs.values():
            for server in pair.values():
                server.stop()
    return runs
