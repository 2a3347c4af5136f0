"""New connections, one after another: handshake, one request, close.

`python -m bench.handshaker --port P --cert C --key K --ca CA --tls 1.3 --count N`
prints one JSON object: connections, connections per second, how many were
resumed, its own CPU and the CPU of the `--pid` server over the same time.

Blocking sockets in a few threads, because the Python ssl module can resume
a session only there (`wrap_socket(session=...)`; asyncio's streams cannot),
and the handshake itself releases the GIL.
"""

from __future__ import annotations

import argparse
import os
import socket
import ssl
import threading
import time
from pathlib import Path
from typing import Any

from bench.procs import job_main
from harness.clients import cached_toolkit_client_context as cached_client_context
from harness.processes import cpu_seconds


class Worker(threading.Thread):
    def __init__(
        self, context: ssl.SSLContext | None, port: int, request: bytes, count: int, *, resume: bool
    ) -> None:
        super().__init__(daemon=True)
        self.context, self.port, self.request, self.count = context, port, request, count
        self.resume = resume
        self.done = self.resumed = self.failed = 0
        self.error = ""

    def run(self) -> None:
        session: ssl.SSLSession | None = None
        for _ in range(self.count):
            try:
                session = self._one(session if self.resume else None)
                self.done += 1
            except (OSError, ssl.SSLError) as exc:
                self.failed += 1
                self.error = f"{type(exc).__name__}: {exc}"

    def _one(self, session: ssl.SSLSession | None) -> ssl.SSLSession | None:
        with socket.create_connection(("127.0.0.1", self.port)) as raw:
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.context is None:
                raw.sendall(self.request)
                _check(_read_to_end(raw))
                return None
            with self.context.wrap_socket(raw, server_hostname="localhost", session=session) as tls:
                tls.sendall(self.request)
                _check(_read_to_end(tls))
                self.resumed += bool(tls.session_reused)
                return tls.session


def _check(answer: bytes) -> None:
    if not answer.startswith(b"HTTP/1.") or b" 200 " not in answer[:16]:
        raise OSError(f"unexpected answer {answer[:60]!r}")


def _read_to_end(sock: socket.socket) -> bytes:
    chunks = []
    while True:
        try:
            chunk = sock.recv(65536)
        except (ssl.SSLEOFError, ConnectionResetError):
            break  # a server that closes without close_notify; the answer is complete
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def run(args: argparse.Namespace) -> dict[str, Any]:
    pki, name = Path(args.pki), args.identity
    context = None
    if args.tls != "none":
        context = cached_client_context(
            pki / name / "chain.pem", pki / name / "key.pem", pki / "ca.crt", args.tls
        )
    request = f"GET {args.path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode()
    per_thread = max(1, args.count // args.threads)
    # One connection first, outside the window: imports, first-use costs, a session to resume.
    Worker(context, args.port, request, 1, resume=False).run()
    workers = [
        Worker(context, args.port, request, per_thread, resume=args.resume)
        for _ in range(args.threads)
    ]
    server_before, own_before, started = cpu_seconds(args.pid), os.times(), time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed, own_after, server_after = (
        time.perf_counter() - started,
        os.times(),
        cpu_seconds(args.pid),
    )
    done = sum(w.done for w in workers)
    return {
        "connections": done,
        "failed": sum(w.failed for w in workers),
        "error": next((w.error for w in workers if w.error), ""),
        "resumed": sum(w.resumed for w in workers),
        "seconds": elapsed,
        "per_second": done / elapsed,
        "client_cpu_s": (own_after.user - own_before.user) + (own_after.system - own_before.system),
        "server_cpu_s": server_after - server_before,
    }


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.handshaker", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pid", type=int, required=True, help="the server process to measure")
    parser.add_argument("--pki", required=True)
    parser.add_argument("--as", dest="identity", default="storefront")
    parser.add_argument("--tls", choices=("1.2", "1.3", "none"), default="1.3")
    parser.add_argument("--path", default="/ping")
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--resume", action="store_true")
    return parser


def main() -> None:
    job_main(parser, run)


if __name__ == "__main__":
    main()
