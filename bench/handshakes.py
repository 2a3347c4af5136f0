"""Full handshakes: our server against `openssl s_server` on the same keys.

`openssl s_server -www` with client certificates required (`-Verify`,
`-verify_return_error`), strict X.509 and the same CRL is the raw cost of this
OpenSSL; our server adds Python, uvloop, uvicorn and one HTTP request per
connection. Both are measured by their own CPU time (from /proc) per new
connection, for P-256 and RSA-2048 keys, TLS 1.3 and 1.2, and with session
resumption (the client offers the session of its previous connection).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.pki import server_env
from bench.procs import Worker
from bench.profile import Profile
from harness.ports import free_port
from harness.processes import ServerProcess


@dataclass(frozen=True)
class Case:
    server: str  # "ours" or "openssl"; "ours-plain", "ours-tls" for scale
    key: str  # "p256" or "rsa2048"
    tls: str  # "1.3", "1.2", or "none" (plain TCP)
    resume: bool

    @property
    def label(self) -> str:
        return f"{self.key} TLS {self.tls}{' resumed' if self.resume else ''}"


VARIANTS = [
    ("p256", "1.3", False),
    ("rsa2048", "1.3", False),
    ("p256", "1.2", False),
    ("p256", "1.3", True),
    ("p256", "1.2", True),
]
CASES = [Case(server, *variant) for variant in VARIANTS for server in ("ours", "openssl")]
# For scale: a new connection to the same app without TLS, and with server-only TLS.
SCALE_CASES = [Case("ours-plain", "p256", "none", False), Case("ours-tls", "p256", "1.3", False)]
SERVER_NAMES = {"p256": "orders", "rsa2048": "orders-rsa"}
CLIENT_NAMES = {"p256": "storefront", "rsa2048": "storefront-rsa"}


def _s_server(pki: Path, name: str, port: int, log: Path) -> ServerProcess:
    argv = [
        "openssl", "s_server", "-accept", f"127.0.0.1:{port}",
        "-cert", f"{name}/cert.pem", "-key", f"{name}/key.pem",
        "-cert_chain", "ca/intermediate.crt", "-CAfile", "ca.crt",
        "-Verify", "3", "-verify_return_error", "-x509_strict",
        "-crl_check", "-CRL", "crl.pem", "-www", "-quiet",
    ]  # fmt: skip
    return ServerProcess.command(f"s_server-{name}", argv, port, log, cwd=pki)


def start_servers(pki: Path, logs: Path) -> dict[tuple[str, str], ServerProcess]:
    servers: dict[tuple[str, str], ServerProcess] = {}
    for key, name in SERVER_NAMES.items():
        port = free_port()
        servers["ours", key] = ServerProcess(
            "bench.serve",
            server_env(pki, name, MTLS_MIN_TLS_VERSION="1.2"),
            port,
            ["ping", "--mode", "mtls", "--port", str(port)],
            log=logs / f"handshakes-ours-{key}.log",
        )
        port = free_port()
        servers["openssl", key] = _s_server(pki, name, port, logs / f"s_server-{key}.log")
    for mode in ("plain", "tls"):
        port = free_port()
        servers[f"ours-{mode}", "p256"] = ServerProcess(
            "bench.serve",
            server_env(pki, "orders"),
            port,
            ["ping", "--mode", mode, "--port", str(port)],
            log=logs / f"handshakes-ours-{mode}.log",
        )
    for server in servers.values():
        server.wait_listening()
    return servers


def connect(
    handshaker: Worker, case: Case, server: ServerProcess, pki: Path, count: int
) -> dict[str, Any]:
    args = ["--port", str(server.port), "--pid", str(server.pid)]
    args += ["--pki", str(pki), "--as", CLIENT_NAMES[case.key], "--tls", case.tls]
    args += ["--count", str(count), "--path", "/" if case.server == "openssl" else "/ping"]
    args += ["--resume"] if case.resume else []
    result = handshaker.call(args)
    if result["failed"]:
        raise RuntimeError(f"{case}: {result['failed']} connections failed: {result['error']}")
    return result


def measure(pki: Path, logs: Path, profile: Profile) -> dict[Case, list[dict[str, Any]]]:
    servers = start_servers(pki, logs)
    handshaker = Worker("bench.handshaker", logs / "handshaker.log")
    runs: dict[Case, list[dict[str, Any]]] = {case: [] for case in CASES + SCALE_CASES}
    try:
        for _ in range(profile.handshake_rounds):
            for case in CASES + SCALE_CASES:
                server = servers[case.server, case.key]
                runs[case].append(connect(handshaker, case, server, pki, profile.handshakes))
    finally:
        handshaker.stop()
        for server in servers.values():
            server.stop()
    return runs
