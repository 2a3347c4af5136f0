"""Test support: real servers in subprocesses on 127.0.0.1, and TLS clients.

Servers run as separate processes (`python -m ...`), exactly as people run
them, so their JSON log lines on stdout can be read back and asserted on.
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

from bench.procs import free_port as free_port  # one allocator for tests and bench
from bench.procs import listens_on, stop_process

REPO = Path(__file__).resolve().parent.parent
TESTS = REPO / "tests"


def tls_env(pki_dir: Path, name: str, **overrides: str) -> dict[str, str]:
    """MTLS_* variables for a process that is `name` in the PKI at pki_dir."""
    env = {
        "MTLS_PKI_DIR": str(pki_dir),
        "MTLS_IDENTITY": name,
        "MTLS_CERT": str(pki_dir / name / "chain.pem"),
        "MTLS_KEY": str(pki_dir / name / "key.pem"),
        "MTLS_CA": str(pki_dir / "ca.crt"),
        "MTLS_RELOAD_INTERVAL": "0.2",
    }
    env.update(overrides)
    return env


def process_env(env: Mapping[str, str]) -> dict[str, str]:
    """os.environ without MTLS_/ORDERS_/PAYMENTS_ variables, plus `env`; tests/apps importable."""
    full_env = {
        k: v for k, v in os.environ.items() if not k.startswith(("MTLS_", "ORDERS_", "PAYMENTS_"))
    }
    full_env.update(env)
    paths = [str(TESTS / "apps"), str(TESTS), full_env.get("PYTHONPATH", "")]
    full_env["PYTHONPATH"] = os.pathsep.join(paths)
    full_env["PYTHONUNBUFFERED"] = "1"
    return full_env


def run_module(
    module: str, env: Mapping[str, str], *args: str, timeout: float = 30.0
) -> subprocess.CompletedProcess[str]:
    """Run `python -m module args...` to completion, stdout and stderr kept apart."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        env=process_env(env),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _says_serving(line: str) -> bool:
    """The toolkit's "serving over mtls" audit line, or uvicorn's banner (its own CLI)."""
    return '"event": "serving over mtls"' in line or "Uvicorn running on" in line


class ServerProcess:
    """A server started with `python -m MODULE`, its output collected line by line."""

    def __init__(
        self, module: str, env: Mapping[str, str], port: int, args: Sequence[str] = ()
    ) -> None:
        self.module, self.port = module, port
        self.lines: list[str] = []
        self._lock = threading.Lock()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            env=process_env(env),
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._lock:
                self.lines.append(line.rstrip("\n"))

    @property
    def url(self) -> str:
        return f"https://localhost:{self.port}"

    def wait_listening(self, timeout: float = 20.0) -> ServerProcess:
        """Return once this process (not another on the same port) has bound it and accepts,
        and every line it wrote before that has been read.

        uvicorn runs the app's start-up *before* it binds, and exits if the port is
        taken, while whoever holds the port accepts connections: only the socket
        table says whose socket it is. The line announcing it serves comes after the
        start-up lines (an expiry warning, say), so a test can assert on those at once.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.module} exited {self.proc.returncode}:\n{self.output()}")
            announced = any(_says_serving(line) for line in self.snapshot())
            if announced and listens_on(self.proc.pid, self.port):
                return self
            time.sleep(0.05)
        raise TimeoutError(f"{self.module} did not listen on {self.port}:\n{self.output()}")

    def wait_exit(self, timeout: float = 20.0) -> int:
        code = self.proc.wait(timeout)
        self._reader.join(2)
        return code

    def snapshot(self) -> list[str]:
        with self._lock:
            return list(self.lines)

    def output(self) -> str:
        return "\n".join(self.snapshot())

    def events(self, event: str | None = None) -> list[dict[str, Any]]:
        """The JSON log lines (optionally only those whose event is `event`)."""
        found = []
        for line in self.snapshot():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and (event is None or record.get("event") == event):
                found.append(record)
        return found

    def wait_for_event(self, event: str, timeout: float = 10.0, **fields: Any) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for record in self.events(event):
                if all(record.get(k) == v for k, v in fields.items()):
                    return record
            time.sleep(0.05)
        raise AssertionError(f"no {event!r} {fields} in the log:\n{self.output()}")

    def stop(self) -> None:
        stop_process(self.proc)
        self._reader.join(2)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self._reader.join(2)


def client_context(
    pki_dir: Path,
    name: str | None,
    *,
    ca: Path | None = None,
    cert: Path | None = None,
    key: Path | None = None,
    max_version: ssl.TLSVersion | None = None,
) -> ssl.SSLContext:
    """A plain, strict client context (deliberately not built with mtls.contexts)."""
    context = ssl.create_default_context(cafile=str(ca or pki_dir / "ca.crt"))
    context.verify_flags |= ssl.VERIFY_X509_STRICT
    if max_version is not None:
        context.maximum_version = max_version
    if cert or name:
        context.load_cert_chain(
            str(cert or pki_dir / str(name) / "chain.pem"),
            str(key or pki_dir / str(name) / "key.pem"),
        )
    return context


def https(pki_dir: Path, name: str | None, **kwargs: Any) -> httpx.Client:
    """An httpx client presenting `name`'s certificate (None: no certificate)."""
    return httpx.Client(verify=client_context(pki_dir, name, **kwargs), timeout=10.0)


class RawResponse:
    """One HTTP/1.1 response read off a TLS socket, with what the client saw of the TLS."""

    def __init__(self, sock: ssl.SSLSocket, data: bytes) -> None:
        head, _, self.body = data.partition(b"\r\n\r\n")
        self.status = int(head.split(b" ", 2)[1])
        self.version = sock.version()
        cipher = sock.cipher()
        self.cipher = cipher[0] if cipher else None
        self.server_cert_der = sock.getpeercert(binary_form=True)
        self.local_address = sock.getsockname()

    def json(self) -> Any:
        return json.loads(self.body)


def tls_get(context: ssl.SSLContext, port: int, path: str, host: str = "localhost") -> RawResponse:
    """GET path over one TLS connection (Connection: close) and read the whole answer."""
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=host) as sock,
    ):
        request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n"
        sock.sendall(request.encode())
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
        return RawResponse(sock, b"".join(chunks))
