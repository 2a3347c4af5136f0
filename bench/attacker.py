"""`python -m bench.attacker MODE PORT PKI SECONDS`: a bounded attack on one mTLS server.

The two cheap attacks the toolkit's limits stop (mtls.limits), each by a client
holding a valid certificate of the PKI (an insider, or a stolen key):
- oversized-body: 4 threads, each in a loop: handshake, announce an 11 MB body
  (Content-Length) and start sending it in 64 KiB pieces until the server
  answers (413) or closes;
- slow-headers: 64 connections, each sending its request head one byte every
  0.2 s; when the server cuts one off (MTLS_HEADER_TIMEOUT), it reconnects.
It stops by itself after SECONDS and prints one JSON line: what it achieved.
"""

from __future__ import annotations

import json
import socket
import ssl
import sys
import threading
import time
from pathlib import Path

from harness.clients import cached_toolkit_client_context as cached_client_context

BODY_THREADS, SLOW_CONNECTIONS = 4, 64
ELEVEN_MB = 11 * 1024 * 1024
PIECE = b"x" * 65536


def _connect(port: int, context: ssl.SSLContext) -> ssl.SSLSocket:
    raw = socket.create_connection(("127.0.0.1", port), timeout=15)
    return context.wrap_socket(raw, server_hostname="localhost")


def _oversized_body(port: int, context: ssl.SSLContext, until: float, seen: dict[str, int]) -> None:
    head = (
        "POST /ping HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        f"Content-Length: {ELEVEN_MB}\r\n\r\n"
    ).encode()
    while time.monotonic() < until:
        try:
            with _connect(port, context) as sock:
                sock.sendall(head)
                sock.settimeout(0.001)
                answer = b""
                for _ in range(ELEVEN_MB // len(PIECE)):
                    try:
                        answer += sock.recv(65536)
                        break
                    except TimeoutError:
                        sock.sendall(PIECE)
                seen["413" if answer.startswith(b"HTTP/1.1 413") else "other"] += 1
        except (OSError, ssl.SSLError):
            seen["closed"] += 1


def _slow_headers(port: int, context: ssl.SSLContext, until: float, seen: dict[str, int]) -> None:
    head = b"GET /health HTTP/1.1\r\nHost: localhost\r\nX-Slow: " + b"a" * 10_000
    while time.monotonic() < until:
        try:
            with _connect(port, context) as sock:
                for byte in head:
                    if time.monotonic() >= until:
                        return
                    sock.sendall(bytes([byte]))
                    time.sleep(0.2)
        except (OSError, ssl.SSLError):
            seen["cut off"] += 1


def main() -> None:
    mode, port, pki, seconds = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]), float(sys.argv[4])
    who = pki / "storefront"
    context = cached_client_context(who / "chain.pem", who / "key.pem", pki / "ca.crt")
    until = time.monotonic() + seconds
    seen: dict[str, int] = {"413": 0, "other": 0, "closed": 0, "cut off": 0}
    attack, count = (_oversized_body, BODY_THREADS)
    if mode == "slow-headers":
        attack, count = _slow_headers, SLOW_CONNECTIONS
    threads = [
        threading.Thread(target=attack, args=(port, context, until, seen), daemon=True)
        for _ in range(count)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 20)
    print(json.dumps({"mode": mode, **seen}), flush=True)


if __name__ == "__main__":
    main()
