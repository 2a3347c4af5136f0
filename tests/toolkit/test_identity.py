"""Who the caller is: the SPIFFE ID (or, opted in, the CN) of the client certificate."""

from __future__ import annotations

import asyncio
import traceback

import httpx
import pytest
from conftest import EchoServers, issue_with_uris
from cryptography.hazmat.primitives.serialization import Encoding
from devpki import DevPKI

from harness.clients import https
from harness.polling import eventually
from harness.processes import ServerProcess


@pytest.fixture(scope="module")
def odd_clients(default_pki: DevPKI) -> DevPKI:
    """Client certificates from the project CA whose identity is not usable."""
    default_pki.issue("foreign", client_only=True, spiffe_id="spiffe://other.example/storefront")
    default_pki.issue("anonymous", client_only=True, spiffe_id="")
    issue_with_uris(
        default_pki,
        "twofaced",
        ("spiffe://demo.internal/storefront", "spiffe://demo.internal/ops"),
    )
    return default_pki


def _get(pki: DevPKI, name: str, server: ServerProcess, path: str = "/whoami") -> httpx.Response:
    with https(pki.directory, name) as client:
        return client.get(server.url + path)


def test_storefront_is_named_by_its_spiffe_id(echo: ServerProcess, default_pki: DevPKI) -> None:
    response = _get(default_pki, "storefront", echo)
    assert response.status_code == 200
    body = response.json()
    assert body["principal"] == "storefront"
    assert body["spiffe_id"] == "spiffe://demo.internal/storefront"
    assert body["serial"] == f"{default_pki.leaf('storefront').serial:x}"


def test_foreign_trust_domain_is_refused_naming_it(
    echo: ServerProcess, odd_clients: DevPKI
) -> None:
    response = _get(odd_clients, "foreign", echo)
    assert response.status_code == 403
    detail = response.json()["detail"]
    assert detail["error"] == "no usable identity"
    assert "'other.example'" in detail["reason"]
    assert "'demo.internal'" in detail["reason"]
    echo.wait_for_event("identity refused", route="GET /whoami")


def test_certificate_without_spiffe_id_is_refused(echo: ServerProcess, odd_clients: DevPKI) -> None:
    response = _get(odd_clients, "anonymous", echo)
    assert response.status_code == 403
    assert "no SPIFFE ID" in response.json()["detail"]["reason"]


def test_certificate_with_two_spiffe_ids_is_refused(
    echo: ServerProcess, odd_clients: DevPKI
) -> None:
    response = _get(odd_clients, "twofaced", echo)
    assert response.status_code == 403
    assert "exactly one URI SAN" in response.json()["detail"]["reason"]


def test_identity_refusal_is_audited_and_the_handler_never_runs(
    echo: ServerProcess, odd_clients: DevPKI
) -> None:
    refused_before = len(echo.events("identity refused"))
    requests_before = len(echo.events("request"))
    response = _get(odd_clients, "anonymous", echo)
    assert response.status_code == 403
    assert "principal" not in response.json()

    def this_request() -> list[dict[str, object]]:  # not an earlier test's late line
        later = echo.events("request")[requests_before:]
        return [
            r for r in later if (r["path"], r["status"], r["principal"]) == ("/whoami", 403, "-")
        ]

    eventually(this_request, "the refused request's access line")
    eventually(lambda: len(echo.events("identity refused")) > refused_before, "identity refused")


@pytest.fixture(scope="module")
def cn_echo(default_pki: DevPKI, module_echo_servers: EchoServers) -> ServerProcess:
    """Principal from the subject CN, and only CNs the regex names."""
    env = {"MTLS_PRINCIPAL_SOURCE": "cn", "MTLS_CN_REGEX": r"(storefront)"}
    return module_echo_servers.start(default_pki, env=env)


def test_cn_mode_maps_the_subject_cn_to_the_principal(
    cn_echo: ServerProcess, odd_clients: DevPKI
) -> None:
    response = _get(odd_clients, "storefront", cn_echo)
    assert response.status_code == 200
    assert response.json()["principal"] == "storefront"
    assert response.json()["spiffe_id"] is None


def test_cn_mode_ignores_the_spiffe_id(cn_echo: ServerProcess, odd_clients: DevPKI) -> None:
    # CN=foreign does not match the regex, whatever its SPIFFE ID says.
    response = _get(odd_clients, "foreign", cn_echo)
    assert response.status_code == 403
    assert "MTLS_CN_REGEX" in response.json()["detail"]["reason"]


def test_cn_mode_refuses_a_subject_the_regex_does_not_match(
    cn_echo: ServerProcess, default_pki: DevPKI
) -> None:
    response = _get(default_pki, "ops", cn_echo, "/health")
    assert response.status_code == 403
    assert response.json()["detail"]["error"] == "no usable identity"


def test_request_without_tls_is_refused_not_served_as_anonymous(default_pki: DevPKI) -> None:
    """In process, no TLS extension in the scope: the toolkit fails closed."""
    import echo_app
    from mtls import TLSContexts, TLSSettings

    pki_dir = default_pki.directory
    settings = TLSSettings(
        cert=pki_dir / "orders" / "chain.pem",
        key=pki_dir / "orders" / "key.pem",
        ca=pki_dir / "ca.crt",
    )
    app = echo_app.create_app(TLSContexts(settings))

    async def call() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://echo") as client:
            return [await client.get(path) for path in ("/whoami", "/health")]

    for response in asyncio.run(call()):
        assert response.status_code == 403
        assert "no anonymous access" in response.json()["detail"]["reason"]


def test_the_identity_of_the_connection_is_read_from_the_scope_not_reparsed(
    default_pki: DevPKI,
) -> None:
    """mtls.protocol computes the caller once per connection; requests only read it."""
    from mtls import TLSSettings
    from mtls.identity import IDENTITY_KEY, IdentityError, connection_identity, principal_from_scope

    settings = TLSSettings()
    ops = connection_identity(
        default_pki.leaf("ops").certificate.public_bytes(Encoding.DER), settings
    )
    storefront_pem = default_pki.leaf("storefront").cert_pem().decode()
    scope = {IDENTITY_KEY: ops, "extensions": {"tls": {"client_cert_chain": [storefront_pem]}}}
    assert principal_from_scope(scope).name == "ops"

    refused = connection_identity(None, settings)
    assert isinstance(refused, IdentityError)
    depths = []
    for _ in range(3):  # the kept refusal is raised afresh: no traceback grows request by request
        try:
            principal_from_scope({IDENTITY_KEY: refused})
        except IdentityError as exc:
            depths.append(len(traceback.extract_tb(exc.__traceback__)))
    assert len(set(depths)) == 1
    assert refused.__traceback__ is None
