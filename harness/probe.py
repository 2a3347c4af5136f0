"""One raw TLS probe: connect, handshake, send bytes, and see where the connection ended.

An HTTP client library would turn a server's refusal into its own exception.
Under TLS 1.3 the client's handshake ends before the server has checked the
client certificate, so a refused certificate shows up as a close on the first
read: the probe reports that as an outcome, never as an error.
"""

from __future__ import annotations

import json
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

CLOSED_IN_HANDSHAKE = "closed in handshake"
CLOSED_AFTER_HANDSHAKE = "closed after handshake"


def http_request(
    method: str,
    path: str,
    body: Any = None,
    headers: Mapping[str, str] | None = None,
    host: str = "localhost",
) -> bytes:
    """One HTTP/1.1 request (Connection: close) with a JSON body, as bytes."""
    data = b"" if body is None else json.dumps(body).encode()
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(data)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + data


@dataclass(frozen=True)
class ClientView:
    """What a client saw: where the connection ended, or the HTTP answer and its TLS."""

    peer: str  # our address as the server logs it ("127.0.0.1:PORT")
    outcome: str  # CLOSED_IN_HANDSHAKE, CLOSED_AFTER_HANDSHAKE or "HTTP <status>"
    status: int | None = None
    body: Any = None  # JSON when it parses, else text
    tls_version: str | None = None
    cipher: str | None = None
    server_cert_der: bytes | None = None
    error: BaseException | None = None  # what the client met when the server refused

    def json(self) -> Any:
        return self.body


def probe(
    port: int, context: ssl.SSLContext, request: bytes, host: str = "localhost"
) -> ClientView:
    """Connect to 127.0.0.1:port, handshake, send `request`, read to the end."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        address, local_port = raw.getsockname()[:2]
        peer = f"{address}:{local_port}"
        try:
            sock = context.wrap_socket(raw, server_hostname=host)
        except (ssl.SSLError, OSError) as exc:
            return ClientView(peer, CLOSED_IN_HANDSHAKE, error=exc)
        with sock:
            cipher = sock.cipher()
            version, der = sock.version(), sock.getpeercert(binary_form=True)
            data, error = _exchange(sock, request)
    name = cipher[0] if cipher else None
    if not data:
        return ClientView(peer, CLOSED_AFTER_HANDSHAKE, None, None, version, name, der, error)
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return ClientView(peer, f"HTTP {status}", status, _decoded(body), version, name, der)


def tls_get(context: ssl.SSLContext, port: int, path: str, host: str = "localhost") -> ClientView:
    """GET path over one TLS connection (Connection: close); AssertionError if refused."""
    view = probe(port, context, http_request("GET", path, host=f"{host}:{port}"), host)
    if view.status is None:
        raise AssertionError(f"GET {path} on port {port}: {view.outcome} ({view.error})")
    return view


def _exchange(sock: ssl.SSLSocket, request: bytes) -> tuple[bytes, BaseException | None]:
    chunks = []
    try:
        sock.sendall(request)
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except (ssl.SSLError, ConnectionError) as exc:
        return b"".join(chunks), exc  # a refusal after the handshake: closed or reset
    return b"".join(chunks), None if chunks else EOFError("the server closed the connection")


def _decoded(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return body.decode(errors="replace")
