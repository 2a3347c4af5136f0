"""Limits enforced by the toolkit before the app parses anything, and no trust in proxy headers.

uvicorn has no body or header-size limit, starts its keep-alive timer only
after a first response, and trusts X-Forwarded-For from 127.0.0.1. Every limit
here is a setting with a safe default; each refusal is logged and counted.
"""

from __future__ import annotations

import json
import socket
import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import EchoServers
from devpki import DevPKI
from service_pair import ORDER, ServicePair

from harness.clients import client_context
from harness.metrics import metric
from harness.processes import ServerProcess

SMALL_LIMITS = {
    "MTLS_MAX_BODY_BYTES": "65536",
    "MTLS_MAX_HEAD_BYTES": "8192",
    "MTLS_FIRST_REQUEST_TIMEOUT": "1",
    "MTLS_HEADER_TIMEOUT": "1",
    "MTLS_MAX_CONNECTIONS": "6",
    "MTLS_HANDSHAKE_TIMEOUT": "1",
}


@pytest.fixture(scope="module")
def limited(default_pki: DevPKI, module_echo_servers: EchoServers) -> ServerProcess:
    return module_echo_servers.start(default_pki, "orders", env=SMALL_LIMITS)


@contextmanager
def connected(pki_dir: Path, port: int, name: str = "storefront") -> Iterator[ssl.SSLSocket]:
    context = client_context(pki_dir, name)
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as sock,
    ):
        yield sock


def read_all(sock: ssl.SSLSocket, timeout: float = 10) -> bytes:
    sock.settimeout(timeout)
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except (ssl.SSLError, ConnectionError, TimeoutError):
        pass
    return b"".join(chunks)


def status_of(answer: bytes) -> int | None:
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1") else None


def refusals(pki: DevPKI, server: ServerProcess, limit: str) -> float:
    return metric(server.url, pki.directory, "mtls_limit_refusals_total", limit=limit) or 0.0


def test_body_over_the_limit_is_refused_with_413_before_it_is_read(
    default_pki: DevPKI, limited: ServerProcess
) -> None:
    before = refusals(default_pki, limited, "body_size")
    with connected(default_pki.directory, limited.port) as sock:
        head = (
            "POST /ops-only HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            "Content-Length: 10485760\r\n\r\n"
        )
        sock.sendall(head.encode())  # the 10 MB body is never sent: the answer comes first
        answer = read_all(sock)
    assert status_of(answer) == 413, answer[:300]
    assert b"connection: close" in answer.lower()
    line = limited.wait_for_event("request refused", limit="body_size")
    assert line["peer"].startswith("127.0.0.1:")
    assert refusals(default_pki, limited, "body_size") == before + 1


def test_head_over_the_limit_is_refused_with_431(
    default_pki: DevPKI, limited: ServerProcess
) -> None:
    before = refusals(default_pki, limited, "head_size")
    with connected(default_pki.directory, limited.port) as sock:
        sock.sendall(b"GET /whoami HTTP/1.1\r\nHost: localhost\r\nX-Big: " + b"a" * 20000)
        answer = read_all(sock)
    assert status_of(answer) == 431, answer[:300]
    limited.wait_for_event("request refused", limit="head_size")
    assert refusals(default_pki, limited, "head_size") == before + 1


def test_connection_that_sends_no_request_after_its_handshake_is_closed(
    default_pki: DevPKI, limited: ServerProcess
) -> None:
    with connected(default_pki.directory, limited.port) as sock:
        started = time.monotonic()
        assert read_all(sock, timeout=15) == b""
        waited = time.monotonic() - started
    assert waited < 10, "the server kept a silent connection open"
    limited.wait_for_event("tls connection closed", reason="first_request_timeout")


def test_handshake_that_never_finishes_is_refused_as_handshake_timeout(
    limited: ServerProcess,
) -> None:
    with socket.create_connection(("127.0.0.1", limited.port), timeout=10) as raw:
        raw.sendall(b"\x16\x03\x01")  # the first bytes of a ClientHello, then silence
        raw.settimeout(10)
        assert raw.recv(100) == b""
    limited.wait_for_event("tls handshake refused", reason="handshake_timeout")


def test_slow_headers_are_cut_off(default_pki: DevPKI, limited: ServerProcess) -> None:
    with connected(default_pki.directory, limited.port) as sock:
        started = time.monotonic()
        closed = False
        for byte in b"GET /whoami HTTP/1.1\r\nHost: localhost\r\nX-Slow: " + b"a" * 100:
            try:
                sock.sendall(bytes([byte]))
            except (ssl.SSLError, ConnectionError):
                closed = True
                break
            time.sleep(0.1)
        if not closed:
            read_all(sock, timeout=5)
        waited = time.monotonic() - started
    assert waited < 8, "a request head sent one byte at a time was never cut off"
    limited.wait_for_event("tls connection closed", reason="header_timeout")


def test_connections_beyond_the_cap_are_closed_and_logged(
    default_pki: DevPKI, limited: ServerProcess
) -> None:
    raws = [socket.create_connection(("127.0.0.1", limited.port), timeout=10) for _ in range(8)]
    try:
        limited.wait_for_event("connection cap reached", limit=6)
    finally:
        for raw in raws:
            raw.close()
    # Once they are gone, the server serves again.
    with connected(default_pki.directory, limited.port) as sock:
        sock.sendall(b"GET /whoami HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        assert status_of(read_all(sock)) == 200


def test_kept_alive_idle_connection_keeps_the_keep_alive_timeout(
    default_pki: DevPKI, limited: ServerProcess
) -> None:
    """The first-request timeout (1 s here) does not cut an idle connection between requests."""
    with connected(default_pki.directory, limited.port) as sock:
        request = b"GET /whoami HTTP/1.1\r\nHost: localhost\r\n\r\n"
        sock.sendall(request)
        sock.settimeout(10)
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        time.sleep(2.5)
        sock.sendall(request.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"))
        assert status_of(read_all(sock)) == 200


# ------------------------------------------------------------------- the services


def test_default_body_limit_refuses_a_10_mb_order(pair: ServicePair) -> None:
    big = {**ORDER, "note": "x" * (10 * 1024 * 1024)}
    response = pair.create_order(big)
    assert response.status_code == 413, response.text[:200]
    assert pair.count("orders", "orders") == 0


def test_chunked_body_over_the_limit_is_refused_with_413(pair: ServicePair) -> None:
    """No Content-Length to refuse by: the body is counted as the app reads it."""
    with connected(pair.pki_dir, pair.orders_port) as sock:
        head = "POST /orders HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n"
        sock.sendall(f"{head}Content-Type: application/json\r\n\r\n".encode())
        chunk = b"a" * 65536
        try:
            for _ in range(32):  # 2 MiB > 1 MiB
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        except (ssl.SSLError, ConnectionError):
            pass  # the server may close while we are still sending
        answer = read_all(sock)
    assert status_of(answer) == 413, answer[:300]
    assert pair.count("orders", "orders") == 0


def test_invalid_order_gets_a_422_that_echoes_only_an_excerpt(pair: ServicePair) -> None:
    wrong = {**ORDER, "items": "x" * 500_000}  # under the 1 MiB limit; items must be a list
    response = pair.create_order(wrong)
    assert response.status_code == 422
    assert len(response.content) < 2000, f"the 422 echoed {len(response.content)} bytes"
    assert response.json()["detail"][0]["loc"] == ["body", "items"]


def test_default_head_limit_refuses_a_10_mb_header(pair: ServicePair) -> None:
    with connected(pair.pki_dir, pair.orders_port) as sock:
        sock.sendall(b"GET /orders HTTP/1.1\r\nHost: localhost\r\nX-Big: ")
        try:
            for _ in range(160):  # 10 MiB in 64 KiB pieces
                sock.sendall(b"a" * 65536)
        except (ssl.SSLError, ConnectionError):
            pass
        answer = read_all(sock)
    assert status_of(answer) == 431, answer[:200]


def test_forwarded_headers_do_not_change_the_logged_peer(pair: ServicePair) -> None:
    assert pair.orders is not None
    with pair.client("storefront") as client:
        response = client.get(
            pair.orders_url + "/orders",
            headers={"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "http"},
        )
    assert response.status_code == 200
    line = pair.orders.wait_for_event("request", path="/orders")
    assert line["peer"].startswith("127.0.0.1:"), line
    assert "203.0.113.7" not in pair.orders.output()


def test_a_redirect_never_carries_a_client_chosen_host(pair: ServicePair) -> None:
    with pair.client("storefront") as client:
        response = client.get(
            pair.orders_url + "/orders/", headers={"Host": "evil.example"}, follow_redirects=False
        )
    assert "evil.example" not in response.headers.get("location", ""), response.headers
    assert "evil.example" not in response.text


def test_body_limit_answer_is_json_naming_the_limit(pair: ServicePair) -> None:
    big = {**ORDER, "note": "x" * (2 * 1024 * 1024)}
    response = pair.create_order(big)
    assert response.status_code == 413
    detail = json.loads(response.text)["detail"]
    assert detail["limit_bytes"] == 1024 * 1024
    assert "MTLS_MAX_BODY_BYTES" in detail["message"]
