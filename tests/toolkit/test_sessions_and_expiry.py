"""Expiry and revocation reach live sessions: open connections and resumed TLS sessions.

OpenSSL checks a certificate's dates and the CRL only during a full handshake.
A kept-alive connection outlives its client certificate, and a TLS 1.3 session
ticket lets a client resume *without sending any certificate at all*, for as
long as the ticket lives (Python's default: 7200 s). The server bounds the
ticket's life (MTLS_SESSION_TIMEOUT, 300 s like the seed) and checks the
session's certificate when a session is resumed and on every request.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from conftest import EchoServers
from devpki import DevPKI, Leaf
from sessions_support import (
    LIFETIME,
    resumed,
    s_client,
    served,
    session_text,
    short_lived,
    wait_until_expired,
)

from harness.clients import client_context
from harness.processes import ServerProcess


@pytest.fixture(scope="module")
def echo_with_crl(default_pki: DevPKI, module_echo_servers: EchoServers) -> ServerProcess:
    env = {"MTLS_CRL": str(default_pki.crl_path)}
    return module_echo_servers.start(default_pki, "orders", env=env)


def test_resumed_session_without_certificate_is_refused_once_its_certificate_expired(
    default_pki: DevPKI, echo_with_crl: ServerProcess, tmp_path: Path
) -> None:
    leaf = short_lived(default_pki, "resume-expiry")
    session = tmp_path / "session.pem"
    first = s_client(default_pki, echo_with_crl.port, session, leaf=leaf, save=True)
    assert served(first), first.stdout + first.stderr
    control = s_client(default_pki, echo_with_crl.port, session, leaf=None, save=False)
    assert resumed(control), "resumption without a certificate must work"
    assert served(control)
    assert '"principal":"storefront"' in control.stdout  # the session carries the identity

    wait_until_expired(leaf)
    late = s_client(default_pki, echo_with_crl.port, session, leaf=None, save=False)

    assert not served(late), late.stdout
    refusal = echo_with_crl.wait_for_event("tls handshake refused", reason="expired", resumed=True)
    assert refusal["serial"] == f"{leaf.serial:x}"


def test_resumed_session_is_refused_once_its_certificate_is_revoked(
    tmp_path: Path, new_pki: Callable[..., DevPKI], echo_servers: EchoServers
) -> None:
    pki: DevPKI = new_pki()
    server = echo_servers.start(pki, "orders", env={"MTLS_CRL": str(pki.crl_path)})
    leaf = short_lived(pki, "resume-revoked", timedelta(days=1))
    session = tmp_path / "session.pem"
    assert served(s_client(pki, server.port, session, leaf=leaf, save=True))

    pki.revoke("resume-revoked")
    server.wait_for_event("tls material reloaded")
    late = s_client(pki, server.port, session, leaf=None, save=False)

    assert not served(late), late.stdout
    # The CRL reload built new contexts, whose ticket keys cannot open the old ticket: the
    # client falls back to a full handshake without a certificate. Were the ticket still
    # accepted, the resumed session's certificate would be refused as revoked.
    if resumed(late):
        server.wait_for_event("tls handshake refused", reason="revoked", resumed=True)
    else:
        server.wait_for_event("tls handshake refused", reason="certificate_required")


def test_session_tickets_live_no_longer_than_the_session_timeout(
    default_pki: DevPKI, echo_servers: EchoServers, tmp_path: Path
) -> None:
    server = echo_servers.start(default_pki, "orders", env={"MTLS_SESSION_TIMEOUT": "2"})
    leaf = default_pki.leaf("storefront")
    session = tmp_path / "session.pem"
    assert served(s_client(default_pki, server.port, session, leaf=leaf, save=True))
    assert "ticket lifetime hint: 2 (seconds)" in session_text(session)

    time.sleep(3)
    late = s_client(default_pki, server.port, session, leaf=None, save=False)

    assert not resumed(late), "a ticket older than MTLS_SESSION_TIMEOUT was resumed"
    assert not served(late)


def test_default_session_timeout_is_the_seeds_300_seconds(
    echo_with_crl: ServerProcess, default_pki: DevPKI, tmp_path: Path
) -> None:
    session = tmp_path / "session.pem"
    leaf = default_pki.leaf("storefront")
    assert served(s_client(default_pki, echo_with_crl.port, session, leaf=leaf, save=True))
    assert "ticket lifetime hint: 300 (seconds)" in session_text(session)


@pytest.fixture
def expiring_client(default_pki: DevPKI) -> Iterator[tuple[Leaf, httpx.Client]]:
    leaf = short_lived(default_pki, "open-expiry")
    context = client_context(default_pki.directory, None, cert=leaf.chain_path, key=leaf.key_path)
    keep = httpx.Limits(keepalive_expiry=60)  # httpx's 5 s would reconnect before the test asks
    with httpx.Client(verify=context, timeout=10, limits=keep) as client:
        yield leaf, client


def test_request_on_an_open_connection_after_its_certificate_expired_gets_403_and_a_close(
    echo: ServerProcess, expiring_client: tuple[Leaf, httpx.Client]
) -> None:
    leaf, client = expiring_client
    assert client.get(echo.url + "/whoami").status_code == 200
    wait_until_expired(leaf)

    late = client.get(echo.url + "/whoami")  # the same kept-alive connection

    assert late.status_code == 403, late.text
    assert late.json()["detail"]["reason"].startswith("the client certificate expired")
    assert late.headers["connection"] == "close"
    refusal = echo.wait_for_event("identity refused", serial=f"{leaf.serial:x}")
    assert "expired" in refusal["reason"]
    closed = echo.wait_for_event("tls connection closed", serial=f"{leaf.serial:x}")
    assert closed["reason"] == "expired"


def test_peer_client_does_not_reuse_a_pooled_connection_to_a_server_whose_certificate_expired(
    default_pki: DevPKI, echo_servers: EchoServers, tmp_path: Path
) -> None:
    from mtls import PeerClient, PeerUnavailable, TLSContexts, TLSSettings
    from mtls.material import Role

    server_leaf = default_pki.issue(
        "expiring-server", dns=["localhost"], ips=["127.0.0.1"], lifetime=LIFETIME
    )
    env = {"MTLS_CERT": str(server_leaf.chain_path), "MTLS_KEY": str(server_leaf.key_path)}
    server = echo_servers.start(default_pki, "orders", env=env)
    storefront = default_pki.leaf("storefront")
    settings = TLSSettings(
        cert=storefront.chain_path, key=storefront.key_path, ca=default_pki.ca_cert_path
    )

    async def calls() -> tuple[int, str]:
        peer = PeerClient("echo", server.url, TLSContexts(settings, roles=(Role.CLIENT,)))
        try:
            first = await peer.request("GET", "/whoami")
            wait_until_expired(server_leaf)
            try:
                await peer.request("GET", "/whoami")
            except PeerUnavailable as exc:
                return first.status_code, exc.why.reason
            return first.status_code, "served by an expired server"
        finally:
            await peer.aclose()

    assert asyncio.run(calls()) == (200, "expired")
