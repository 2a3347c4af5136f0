"""One endpoint on kept-alive connections: plain HTTP, server-only TLS and mTLS.

The same app (`bench.serve.ping_app`: identity and policy checked on every
request) under the same uvicorn settings; only the transport differs. Runs
rotate A B C D, B C D A, ... so no variant always goes first.
"plain-coalesced" is plain HTTP with the toolkit's write coalescing
(`mtls.coalesce`): it separates what TLS itself costs from what coalescing saves.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.pki import server_env
from bench.procs import Worker
from bench.profile import Profile
from harness.ports import free_port
from harness.processes import ServerProcess

MODES = ("plain", "plain-coalesced", "tls", "mtls")


def start_servers(pki: Path, logs: Path) -> dict[str, ServerProcess]:
    servers = {
        mode: ServerProcess(
            "bench.serve",
            server_env(pki, "orders"),
            port,
            ["ping", "--mode", mode, "--port", str(port)],
            log=logs / f"ping-{mode}.log",
        )
        for mode, port in ((mode, free_port()) for mode in MODES)
    }
    for server in servers.values():
        server.wait_listening()
    return servers


def load(
    loadgen: Worker,
    port: int,
    pki: Path | None,
    profile: Profile,
    pids: list[int],
    extra: list[str] | None = None,
    warmup: float | None = None,
    database_pid: int | None = None,
) -> dict[str, Any]:
    """One loadgen run against `port`, measuring the CPU of the server processes `pids`
    (and apart, of a PostgreSQL whose postmaster is `database_pid`)."""
    args = ["--port", str(port), "--conns", str(profile.conns)]
    args += ["--warmup", str(warmup or profile.warmup), "--duration", str(profile.duration)]
    args += ["--pki", str(pki)] if pki else []
    args += ["--database-pid", str(database_pid)] if database_pid else []
    for pid in pids:
        args += ["--pid", str(pid)]
    return loadgen.call(args + (extra or []))


def measure(pki: Path, logs: Path, profile: Profile) -> dict[str, list[dict[str, Any]]]:
    servers = start_servers(pki, logs)
    loadgen = Worker("bench.loadgen", logs / "keepalive-loadgen.log")
    runs: dict[str, list[dict[str, Any]]] = {mode: [] for mode in MODES}
    try:
        for round_no in range(profile.rounds):
            order = MODES[round_no % len(MODES) :] + MODES[: round_no % len(MODES)]
            for mode in order:
                server = servers[mode]
                client_pki = None if mode.startswith("plain") else pki
                runs[mode].append(load(loadgen, server.port, client_pki, profile, [server.pid]))
    finally:
        loadgen.stop()
        for server in servers.values():
            server.stop()
    return runs
