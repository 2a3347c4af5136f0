"""Refused handshakes: no certificate, or one from another CA, never reaches a handler."""

from __future__ import annotations

import socket
import ssl
import subprocess
from collections.abc import Callable

import pytest
from devpki import DevPKI

from harness.clients import client_context
from harness.ports import free_port
from harness.processes import ServerProcess


def _connect_and_read(context: ssl.SSLContext, port: int) -> tuple[str, BaseException | None]:
    """Handshake, send a request, read: (our local address, the error we saw)."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    local = "{}:{}".format(*raw.getsockname())
    try:
        with context.wrap_socket(raw, server_hostname="localhost") as sock:
            sock.sendall(b"GET /whoami HTTP/1.1\r\nHost: localhost\r\n\r\n")
            data = sock.recv(65536)
            return local, None if data else EOFError("no data")
    except (ssl.SSLError, OSError) as exc:
        return local, exc
    finally:
        raw.close()


def _no_request_from(server: ServerProcess, peer: str) -> bool:
    return not [r for r in server.events("request") if r.get("peer") == peer]


def test_client_without_certificate_is_refused_at_handshake(
    echo: ServerProcess, default_pki: DevPKI
) -> None:
    local, error = _connect_and_read(client_context(default_pki.directory, None), echo.port)
    # TLS 1.3: the client's handshake completes; the refusal shows on its first read, as an
    # end of stream (the asyncio/uvloop TLS layer closes without sending its alert).
    assert isinstance(error, ssl.SSLError | ConnectionError | EOFError), error
    record = echo.wait_for_event("tls handshake refused", peer=local)
    assert record["reason"] == "certificate_required"
    assert "certificate" in record["hint"]
    assert _no_request_from(echo, local)


def test_curl_without_certificate_is_refused(echo: ServerProcess, default_pki: DevPKI) -> None:
    local_port = free_port()
    result = subprocess.run(
        [
            "curl", "-sS", "--max-time", "10", "--local-port", str(local_port),
            "--cacert", str(default_pki.ca_cert_path), f"{echo.url}/whoami",
        ],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode != 0, result.stdout
    assert result.stdout == ""
    peer = f"127.0.0.1:{local_port}"
    record = echo.wait_for_event("tls handshake refused", peer=peer)
    assert record["reason"] == "certificate_required"
    assert _no_request_from(echo, peer)


def test_client_from_another_ca_is_refused_as_unknown_ca(
    echo: ServerProcess, default_pki: DevPKI, new_pki: Callable[..., DevPKI]
) -> None:
    other = new_pki()
    context = client_context(
        default_pki.directory,
        None,
        cert=other.directory / "storefront" / "chain.pem",
        key=other.directory / "storefront" / "key.pem",
    )
    local, error = _connect_and_read(context, echo.port)
    assert error is not None
    record = echo.wait_for_event("tls handshake refused", peer=local)
    assert record["reason"] == "unknown_ca"
    assert "CERTIFICATE_VERIFY_FAILED" in record["error"]
    assert _no_request_from(echo, local)


def test_refusals_are_counted_by_reason(echo: ServerProcess, default_pki: DevPKI) -> None:
    _connect_and_read(client_context(default_pki.directory, None), echo.port)
    context = client_context(default_pki.directory, "ops")
    with context.wrap_socket(
        socket.create_connection(("127.0.0.1", echo.port), timeout=10), server_hostname="localhost"
    ) as sock:
        sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        text = b"".join(iter(lambda: sock.recv(65536), b"")).decode()
    assert 'mtls_handshake_failures_total{reason="certificate_required"}' in text


@pytest.mark.parametrize("payload", [b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b""])
def test_plain_tcp_or_http_never_reaches_the_app(echo: ServerProcess, payload: bytes) -> None:
    with socket.create_connection(("127.0.0.1", echo.port), timeout=10) as raw:
        local = "{}:{}".format(*raw.getsockname())
        raw.sendall(payload)
        raw.shutdown(socket.SHUT_WR)
        assert raw.recv(65536) == b""
    if payload:
        record = echo.wait_for_event("tls handshake refused", peer=local)
        assert record["reason"] == "not_tls"
    assert _no_request_from(echo, local)
