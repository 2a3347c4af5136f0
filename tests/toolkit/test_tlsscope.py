"""The ASGI TLS extension a handler sees, field by field, over real TLS connections."""

from __future__ import annotations

import socket
import ssl
import sys

import pytest
from conftest import EchoServers
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from devpki import DevPKI

from harness.clients import client_context
from harness.probe import tls_get
from harness.processes import ServerProcess

# IANA code points of the suites our contexts allow (RFC 8446, RFC 8442, RFC 7905).
IANA_SUITES = {
    "TLS_AES_128_GCM_SHA256": 0x1301,
    "TLS_AES_256_GCM_SHA384": 0x1302,
    "TLS_CHACHA20_POLY1305_SHA256": 0x1303,
    "ECDHE-ECDSA-AES128-GCM-SHA256": 0xC02B,
    "ECDHE-ECDSA-AES256-GCM-SHA384": 0xC02C,
    "ECDHE-ECDSA-CHACHA20-POLY1305": 0xCCA9,
}


def _der(pem: str) -> bytes:
    return x509.load_pem_x509_certificate(pem.encode()).public_bytes(Encoding.DER)


def test_server_cert_is_the_servers_leaf_pem(echo: ServerProcess, default_pki: DevPKI) -> None:
    answer = tls_get(client_context(default_pki.directory, "storefront"), echo.port, "/whoami")
    tls = answer.json()["tls"]
    orders = default_pki.leaf("orders")
    assert tls["server_cert"] == orders.cert_pem().decode()
    assert _der(tls["server_cert"]) == answer.server_cert_der


def test_client_cert_chain_starts_with_the_callers_leaf(
    echo: ServerProcess, default_pki: DevPKI
) -> None:
    answer = tls_get(client_context(default_pki.directory, "storefront"), echo.port, "/whoami")
    chain = answer.json()["tls"]["client_cert_chain"]
    storefront = default_pki.leaf("storefront").certificate
    assert _der(chain[0]) == storefront.public_bytes(Encoding.DER)


@pytest.mark.skipif(sys.version_info < (3, 13), reason="get_verified_chain() is new in 3.13")
def test_client_cert_chain_is_the_verified_chain_on_python_313(
    echo: ServerProcess, default_pki: DevPKI
) -> None:
    answer = tls_get(client_context(default_pki.directory, "storefront"), echo.port, "/whoami")
    chain = [_der(pem) for pem in answer.json()["tls"]["client_cert_chain"]]
    expected = [
        default_pki.leaf("storefront").certificate,
        x509.load_pem_x509_certificate(default_pki.intermediate_cert_path.read_bytes()),
        x509.load_pem_x509_certificate(default_pki.ca_cert_path.read_bytes()),
    ]
    assert chain == [cert.public_bytes(Encoding.DER) for cert in expected]


@pytest.mark.skipif(sys.version_info >= (3, 13), reason="3.13 exposes the verified chain")
def test_client_cert_chain_is_the_leaf_only_before_python_313(
    echo: ServerProcess, default_pki: DevPKI
) -> None:
    answer = tls_get(client_context(default_pki.directory, "storefront"), echo.port, "/whoami")
    assert len(answer.json()["tls"]["client_cert_chain"]) == 1


def test_client_cert_name_is_the_rfc4514_subject_and_no_error(
    echo: ServerProcess, default_pki: DevPKI
) -> None:
    answer = tls_get(client_context(default_pki.directory, "storefront"), echo.port, "/whoami")
    tls = answer.json()["tls"]
    assert tls["client_cert_name"] == "CN=storefront,O=demo.internal dev PKI"
    assert tls["client_cert_name"] == (
        default_pki.leaf("storefront").certificate.subject.rfc4514_string()
    )
    assert tls["client_cert_error"] is None


def test_tls13_version_and_cipher_suite_are_iana_codes(
    echo: ServerProcess, default_pki: DevPKI
) -> None:
    answer = tls_get(client_context(default_pki.directory, "storefront"), echo.port, "/whoami")
    tls = answer.json()["tls"]
    assert answer.tls_version == "TLSv1.3"
    assert tls["tls_version"] == 0x0304
    assert answer.cipher is not None
    assert tls["cipher_suite"] == IANA_SUITES[answer.cipher]
    assert tls["cipher_suite"] in {0x1301, 0x1302, 0x1303}


def test_tls12_client_is_refused_by_default(echo: ServerProcess, default_pki: DevPKI) -> None:
    context = client_context(
        default_pki.directory, "storefront", max_version=ssl.TLSVersion.TLSv1_2
    )
    with socket.create_connection(("127.0.0.1", echo.port), timeout=10) as raw:
        local = "{}:{}".format(*raw.getsockname())
        # asyncio/uvloop close without sending the protocol_version alert: the client sees EOF.
        with pytest.raises((ssl.SSLError, ConnectionError)):
            context.wrap_socket(raw, server_hostname="localhost")
    echo.wait_for_event("tls handshake refused", peer=local, reason="protocol_version")


def test_tls12_when_allowed_reports_version_0303_and_its_suite(
    default_pki: DevPKI, module_echo_servers: EchoServers
) -> None:
    server = module_echo_servers.start(default_pki, env={"MTLS_MIN_TLS_VERSION": "1.2"})
    context = client_context(
        default_pki.directory, "storefront", max_version=ssl.TLSVersion.TLSv1_2
    )
    answer = tls_get(context, server.port, "/whoami")
    tls = answer.json()["tls"]
    assert answer.tls_version == "TLSv1.2"
    assert tls["tls_version"] == 0x0303
    assert answer.cipher is not None
    assert tls["cipher_suite"] == IANA_SUITES[answer.cipher]
    assert answer.json()["principal"] == "storefront"
