"""A closed-loop HTTP/1.1 keep-alive load generator that presents a client certificate.

`python -m bench.loadgen --port 8443 --pki DIR --as storefront --conns 16 ...`
prints one JSON object: requests, errors, req/s, p50/p99 latency, its own CPU
seconds and the CPU seconds of the `--pid` processes over the same window.

Why not a ready-made one: wrk, hey and h2load cannot send client
certificates, and autocannon skips server verification and reports whole
milliseconds. This one is small: uvloop, asyncio protocols, one pre-encoded
request, and parsing that reads only the status and Content-Length.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import ssl
import time
from pathlib import Path
from typing import Any

import uvloop

from bench.procs import job_main
from bench.stats import percentile
from harness.clients import cached_toolkit_client_context as cached_client_context
from harness.processes import cpu_seconds, tree_cpu_seconds

CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)
HANDSHAKES = re.compile(rb"^mtls_handshakes_total (\S+)$", re.MULTILINE)


class Window:
    """What the connections record; only responses inside the measuring window count."""

    def __init__(self) -> None:
        self.measuring = False
        self.stopping = False
        self.latencies: list[float] = []
        self.errors = 0
        self.statuses: dict[str, int] = {}


class KeepAlive(asyncio.Protocol):
    """One connection sending the same request again as soon as its response is complete."""

    def __init__(self, request: bytes, window: Window, closed: asyncio.Future[None]) -> None:
        self.request, self.window, self.closed = request, window, closed
        self.buffer = bytearray()
        self.sent = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self._send()

    def _send(self) -> None:
        self.sent = time.perf_counter()
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        match = CONTENT_LENGTH.search(self.buffer, 0, end + 2)
        if match is None:
            raise RuntimeError(f"response without Content-Length: {bytes(self.buffer[:200])!r}")
        total = end + 4 + int(match.group(1))
        if len(self.buffer) < total:
            return
        status = bytes(self.buffer[9:12]).decode()
        del self.buffer[:total]
        self._record(status)
        if self.window.stopping:
            self.transport.close()
        else:
            self._send()

    def _record(self, status: str) -> None:
        window = self.window
        if not window.measuring:
            return
        window.latencies.append(time.perf_counter() - self.sent)
        if not status.startswith("2"):
            window.errors += 1
            window.statuses[status] = window.statuses.get(status, 0) + 1

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


async def handshakes_so_far(port: int, ops: ssl.SSLContext) -> int:
    """mtls_handshakes_total of the server on `port`, read as ops on a new connection.

    That connection is a handshake too, counted before the answer is written:
    a difference of two readings includes one of them.
    """
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=ops, server_hostname="localhost"
    )
    writer.write(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    answer = await reader.read()
    writer.close()
    match = HANDSHAKES.search(answer)
    if match is None:
        raise RuntimeError(f"no mtls_handshakes_total in {answer[:300]!r}")
    return int(float(match.group(1)))


async def count_handshakes(ports: list[int], ops: ssl.SSLContext | None) -> list[int]:
    if ops is None:
        return []
    return [await handshakes_so_far(port, ops) for port in ports]


def _context(pki: Path, name: str) -> ssl.SSLContext:
    return cached_client_context(pki / name / "chain.pem", pki / name / "key.pem", pki / "ca.crt")


def encode_request(method: str, path: str, body: str | None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: localhost", "User-Agent: bench"]
    payload = (body or "").encode()
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(payload)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


async def run(args: argparse.Namespace) -> dict[str, Any]:
    context = _context(Path(args.pki), args.identity) if args.pki else None
    ops = _context(Path(args.pki), "ops") if args.pki and args.handshakes_of else None
    loop = asyncio.get_running_loop()
    window = Window()
    request = encode_request(args.method, args.path, args.body)
    closed: list[asyncio.Future[None]] = []
    for _ in range(args.conns):
        done: asyncio.Future[None] = loop.create_future()
        closed.append(done)
        await loop.create_connection(
            lambda done=done: KeepAlive(request, window, done),
            "127.0.0.1",
            args.port,
            ssl=context,
            server_hostname="localhost" if context else None,
        )
    await asyncio.sleep(args.warmup)
    pids = [int(pid) for pid in args.pid]
    handshakes_before = await count_handshakes(args.handshakes_of, ops)
    server_before = [cpu_seconds(pid) for pid in pids]
    database_before = sum(tree_cpu_seconds(int(pid)) for pid in args.database_pid)
    own_before, started = os.times(), time.perf_counter()
    window.measuring = True
    await asyncio.sleep(args.duration)
    window.measuring = False
    elapsed, own_after = time.perf_counter() - started, os.times()
    server_after = [cpu_seconds(pid) for pid in pids]
    database_after = sum(tree_cpu_seconds(int(pid)) for pid in args.database_pid)
    handshakes_after = await count_handshakes(args.handshakes_of, ops)
    window.stopping = True
    await asyncio.wait_for(asyncio.gather(*closed), timeout=10)
    latencies = sorted(window.latencies)
    return {
        "requests": len(latencies),
        "errors": window.errors,
        "statuses": window.statuses,
        "seconds": elapsed,
        "rps": len(latencies) / elapsed,
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "client_cpu_s": (own_after.user - own_before.user) + (own_after.system - own_before.system),
        "server_cpu_s": [
            after - before for before, after in zip(server_before, server_after, strict=False)
        ],
        "database_cpu_s": database_after - database_before,
        # minus the reading's own connection (see handshakes_so_far)
        "handshakes": [
            a - b - 1 for b, a in zip(handshakes_before, handshakes_after, strict=False)
        ],
    }


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pki", help="PKI folder; without it, plain HTTP")
    parser.add_argument("--as", dest="identity", default="storefront")
    parser.add_argument("--method", default="GET")
    parser.add_argument("--path", default="/ping")
    parser.add_argument("--body", help="JSON body (sent with every request)")
    parser.add_argument("--conns", type=int, default=16)
    parser.add_argument("--warmup", type=float, default=0.5)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--pid", action="append", default=[], help="server PID to measure")
    parser.add_argument(
        "--database-pid",
        action="append",
        default=[],
        help="PostgreSQL postmaster PID: its CPU and its backends' is measured apart",
    )
    parser.add_argument(
        "--handshakes-of",
        type=int,
        action="append",
        default=[],
        help="port of an mTLS server whose handshakes to count in the window (read as ops)",
    )
    return parser


def job(args: argparse.Namespace) -> dict[str, Any]:
    return uvloop.run(run(args))


def main() -> None:
    job_main(parser, job)


if __name__ == "__main__":
    main()
