"""mtls.errors.explain on exceptions from real handshakes (Python ssl on 127.0.0.1)."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from devpki import DevPKI
from mtls.contexts import client_context, server_context
from mtls.errors import explain
from mtls.material import TLSMaterial, load_material
from mtls.settings import TLSSettings

from harness.clients import client_context as plain_client_context


def material(pki: DevPKI, name: str, ca: DevPKI | None = None) -> TLSMaterial:
    """`name`'s certificate and key, trusting `ca`'s root (default: its own PKI's)."""
    folder = pki.directory / name
    settings = TLSSettings(
        cert=folder / "chain.pem", key=folder / "key.pem", ca=(ca or pki).ca_cert_path
    )
    return load_material(settings, ())  # no usage check: tests need the wrong ones too


def handshake(
    server: ssl.SSLContext, client: ssl.SSLContext, hostname: str = "localhost"
) -> tuple[BaseException | None, BaseException | None]:
    """One connection, a byte each way (server first): (the client's error, the server's)."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server_errors: list[BaseException] = []

    def serve() -> None:
        conn, _ = listener.accept()
        conn.settimeout(5)
        try:
            with server.wrap_socket(conn, server_side=True) as tls:
                tls.sendall(b"!")
                tls.recv(1)
        except (ssl.SSLError, OSError) as exc:
            server_errors.append(exc)
        finally:
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    client_error: BaseException | None = None
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
            client.wrap_socket(raw, server_hostname=hostname) as tls,
        ):
            # Read first: with nothing unread on the server, its alert is not lost to a reset.
            if not tls.recv(1):
                raise ConnectionResetError("closed by the server")
            tls.sendall(b"?")
    except (ssl.SSLError, OSError) as exc:
        client_error = exc
    thread.join(5)
    listener.close()
    return client_error, server_errors[0] if server_errors else None


@pytest.fixture(scope="module")
def odd_servers(default_pki: DevPKI) -> DevPKI:
    default_pki.issue("expired-server", dns=["localhost"], expired=True)
    default_pki.issue(
        "future-server", dns=["localhost"], not_before=datetime.now(UTC) + timedelta(days=2)
    )
    default_pki.issue("elsewhere", dns=["elsewhere.internal"])
    default_pki.issue("client-only-server", dns=["localhost"], client_only=True)
    return default_pki


def test_a_good_pair_has_nothing_to_explain(default_pki: DevPKI) -> None:
    server = server_context(material(default_pki, "orders"))
    client = client_context(material(default_pki, "payments"))
    assert handshake(server, client) == (None, None)


@pytest.mark.parametrize(
    ("server_name", "reason"),
    [
        ("expired-server", "expired"),
        ("future-server", "not_yet_valid"),
        ("elsewhere", "hostname_mismatch"),
        ("client-only-server", "wrong_purpose"),
    ],
)
def test_client_side_certificate_failures(
    odd_servers: DevPKI, server_name: str, reason: str
) -> None:
    server = server_context(material(odd_servers, server_name))
    client = client_context(material(odd_servers, "payments"))
    client_error, _ = handshake(server, client)
    assert isinstance(client_error, ssl.SSLCertVerificationError)
    assert explain(client_error).reason == reason


def test_server_from_another_ca_is_unknown_ca(
    default_pki: DevPKI, new_pki: Callable[..., DevPKI]
) -> None:
    other = new_pki()
    server = server_context(material(other, "orders"))
    client = client_context(material(default_pki, "payments"))
    client_error, server_error = handshake(server, client)
    assert explain(client_error or Exception()).reason == "unknown_ca"
    assert explain(server_error or Exception()).reason == "peer_rejected_certificate"


def test_client_from_another_ca_is_unknown_ca_to_the_server(
    default_pki: DevPKI, new_pki: Callable[..., DevPKI]
) -> None:
    other = new_pki()
    server = server_context(material(default_pki, "orders"))
    client = client_context(material(other, "payments", ca=default_pki))
    client_error, server_error = handshake(server, client)
    assert explain(server_error or Exception()).reason == "unknown_ca"
    # TLS 1.3: the client's handshake is done; its first read meets the server's alert.
    assert explain(client_error or Exception()).reason == "peer_rejected_certificate"


def test_missing_client_certificate_is_certificate_required_on_both_sides(
    default_pki: DevPKI,
) -> None:
    server = server_context(material(default_pki, "orders"))
    client = ssl.create_default_context(cafile=str(default_pki.ca_cert_path))
    client_error, server_error = handshake(server, client)
    assert explain(server_error or Exception()).reason == "certificate_required"
    assert explain(client_error or Exception()).reason == "certificate_required"


def test_tls12_client_against_tls13_server_is_protocol_version(default_pki: DevPKI) -> None:
    server = server_context(material(default_pki, "orders"))
    client = plain_client_context(
        default_pki.directory, "payments", max_version=ssl.TLSVersion.TLSv1_2
    )
    client_error, server_error = handshake(server, client)
    assert explain(client_error or Exception()).reason == "protocol_version"
    assert explain(server_error or Exception()).reason == "protocol_version"


def test_explain_reads_through_httpx_exceptions(odd_servers: DevPKI) -> None:
    server = server_context(material(odd_servers, "expired-server"))
    client_error, _ = handshake(server, client_context(material(odd_servers, "payments")))
    assert client_error is not None
    try:
        raise httpx.ConnectError("wrapped") from client_error
    except httpx.ConnectError as wrapped:
        why = explain(wrapped)
    assert why.reason == "expired"
    assert "renew" in why.hint


def test_transport_failures_without_tls_have_reasons() -> None:
    assert explain(httpx.ConnectError("refused")).reason == "unreachable"
    assert explain(httpx.ReadTimeout("slow")).reason == "timeout"
    assert explain(httpx.ReadError("reset")).reason == "connection_closed"
