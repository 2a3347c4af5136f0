"""The plain uvicorn command line with the toolkit's protocol: TLS by uvicorn, scope by mtls."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from devpki import DevPKI

from harness.clients import client_context
from harness.ports import free_port
from harness.probe import tls_get
from harness.processes import ServerProcess, tls_env


@pytest.fixture(scope="module", params=["HttpToolsTLSProtocol", "H11TLSProtocol"])
def uvicorn_cli(request: pytest.FixtureRequest, default_pki: DevPKI) -> Iterator[ServerProcess]:
    pki_dir, port = default_pki.directory, free_port()
    args = [
        "--factory", "echo_app:create_app_from_env",
        "--http", f"mtls.protocol:{request.param}",
        "--ssl-certfile", str(pki_dir / "orders" / "chain.pem"),
        "--ssl-keyfile", str(pki_dir / "orders" / "key.pem"),
        "--ssl-ca-certs", str(pki_dir / "ca.crt"),
        "--ssl-cert-reqs", "2",
        "--host", "127.0.0.1", "--port", str(port),
    ]  # fmt: skip
    server = ServerProcess("uvicorn", tls_env(pki_dir, "orders"), port, args=args)
    try:
        yield server.wait_listening()
    finally:
        server.stop()


def test_handler_sees_the_principal_and_the_tls_extension(
    uvicorn_cli: ServerProcess, default_pki: DevPKI
) -> None:
    answer = tls_get(
        client_context(default_pki.directory, "storefront"), uvicorn_cli.port, "/whoami"
    )
    assert answer.status == 200
    body = answer.json()
    assert body["principal"] == "storefront"
    tls = body["tls"]
    leaf = x509.load_pem_x509_certificate(tls["client_cert_chain"][0].encode())
    storefront = default_pki.leaf("storefront").certificate
    assert leaf.public_bytes(Encoding.DER) == storefront.public_bytes(Encoding.DER)
    assert tls["client_cert_name"] == storefront.subject.rfc4514_string()
    assert tls["tls_version"] == 0x0304
    assert tls["cipher_suite"] in {0x1301, 0x1302, 0x1303}
    # The loop did the handshake with --ssl-certfile: its leaf is the one the client saw.
    orders = default_pki.leaf("orders").certificate
    served = x509.load_pem_x509_certificate(tls["server_cert"].encode())
    assert served.public_bytes(Encoding.DER) == orders.public_bytes(Encoding.DER)


def test_policy_still_applies(uvicorn_cli: ServerProcess, default_pki: DevPKI) -> None:
    answer = tls_get(client_context(default_pki.directory, "ops"), uvicorn_cli.port, "/whoami")
    assert answer.status == 403
    assert answer.json()["detail"]["principal"] == "ops"


def test_client_without_certificate_is_refused(
    uvicorn_cli: ServerProcess, default_pki: DevPKI
) -> None:
    context = client_context(default_pki.directory, None)
    with (
        socket.create_connection(("127.0.0.1", uvicorn_cli.port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as sock,
    ):
        local = "{}:{}".format(*sock.getsockname())
        sock.sendall(b"GET /whoami HTTP/1.1\r\nHost: localhost\r\n\r\n")
        try:
            data = sock.recv(65536)
        except (ssl.SSLError, ConnectionError) as exc:
            data = repr(exc).encode()
    assert data == b"" or b"CERTIFICATE_REQUIRED" in data or b"Error" in data, data
    assert not [line for line in uvicorn_cli.snapshot() if local in line]  # no access line
