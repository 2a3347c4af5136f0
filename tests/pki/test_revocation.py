"""Revocation reaches running services: `devpki revoke` rewrites the CRL, the next handshake fails.

The CRL is one of the watched files, so the services reload it like a
certificate. Their own certificates are not touched: orders and payments keep
calling each other, and a reissued storefront certificate is accepted again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from certsupport import devpki_cli, place_order, refusals, refused_request, running, wait_until
from conftest import EchoServers
from cryptography import x509
from devpki import DevPKI
from mtls.health import crl_health
from service_pair import ServicePair

from harness.clients import client_context, https
from harness.metrics import metric
from harness.processes import ServerProcess


def test_revoked_storefront_is_refused_by_running_services_without_a_restart(
    own_pki_services: tuple[DevPKI, ServicePair],
) -> None:
    pki, pair = own_pki_services
    revoked = pki.leaf("storefront").serial
    orders, payments = running(pair)
    pids = {orders.proc.pid, payments.proc.pid}
    kept_alive = https(pki.directory, "storefront")  # a connection opened before the revoke
    assert kept_alive.get(f"{pair.orders_url}/health").status_code == 200
    place_order(pair)

    assert f"revoked storefront (serial {revoked:x})" in devpki_cli(pki, "revoke", "storefront")
    for server in (orders, payments):
        reload = server.wait_for_event("tls material reloaded")  # the CRL changed
        assert reload["old_serial"] == reload["serial"]  # its own certificate stays

    storefront = client_context(pki.directory, "storefront")
    for server in (orders, payments):
        peer, error = refused_request(storefront, server.port)
        refusal = server.wait_for_event("tls handshake refused", peer=peer)
        assert refusal["reason"] == "revoked", (refusal, error)
    assert (
        metric(pair.orders_url, pki.directory, "mtls_handshake_failures_total", reason="revoked")
        == 1.0
    )

    # The connection opened before the revoke is closed too; reconnecting is refused.
    closed = orders.wait_for_event("tls connection closed", serial=f"{revoked:x}")
    assert closed["reason"] == "revoked"
    with pytest.raises(httpx.HTTPError):
        kept_alive.get(f"{pair.orders_url}/health")
    kept_alive.close()
    wait_until(lambda: len(refusals(orders)) == 2, "the kept-alive client's reconnect refused")
    # The services' own certificates still work both ways, and a new storefront one does.
    pki.renew("storefront")
    order = place_order(pair)
    assert order["status"] == "paid"
    pair.wait_for_status(order["id"], "settled")
    assert {orders.proc.pid, payments.proc.pid} == pids
    assert len(refusals(orders)) == 2, refusals(orders)  # one more: the kept-alive client
    assert len(refusals(payments)) == 1, refusals(payments)
    assert orders.proc.poll() is None
    assert payments.proc.poll() is None


# ------------------------------------------------- connections opened before the revocation


def test_revocation_closes_open_connections_after_the_request_in_flight(
    new_pki: Callable[..., DevPKI], echo_servers: EchoServers
) -> None:
    """OpenSSL checks the CRL only at the handshake: the server re-checks open connections."""
    pki = new_pki()
    pki.crl()
    server = _echo_with_crl(pki, echo_servers)
    revoked = pki.leaf("storefront").serial
    with https(pki.directory, "storefront") as storefront, https(pki.directory, "ops") as ops:
        assert storefront.get(f"{server.url}/whoami").status_code == 200
        handshakes = _handshakes(ops, server)
        with ThreadPoolExecutor(1) as pool:
            in_flight = pool.submit(storefront.get, f"{server.url}/slow", params={"seconds": 2})
            time.sleep(0.3)  # the request is in the handler
            pki.revoke("storefront")
            closed = server.wait_for_event("tls connection closed", serial=f"{revoked:x}")
            answer = in_flight.result(timeout=15)
        # The request in flight finished, then the connection closed.
        assert answer.status_code == 200, answer.text
        assert answer.headers["connection"] == "close"
        assert closed["reason"] == "revoked"
        assert closed["subject"] == pki.leaf("storefront").certificate.subject.rfc4514_string()
        with pytest.raises(httpx.HTTPError):
            storefront.get(f"{server.url}/whoami")  # a new handshake: refused
        server.wait_for_event("tls handshake refused", reason="revoked")  # logged after the close
        # ops was not revoked: its kept-alive connection was left alone (no new handshake).
        assert _handshakes(ops, server) == handshakes
    assert len(server.events("tls connection closed")) == 1


def _handshakes(ops: httpx.Client, server: ServerProcess) -> float:
    """mtls_handshakes_total read over ops' own (kept-alive) connection."""
    text = ops.get(f"{server.url}/metrics").text
    [line] = [line for line in text.splitlines() if line.startswith("mtls_handshakes_total ")]
    return float(line.split()[1])


# ------------------------------------------------------------------ the CRL's own freshness

FRESHNESS = "crl freshness warning"


def _echo_with_crl(pki: DevPKI, echo_servers: EchoServers) -> ServerProcess:
    return echo_servers.start(pki, "orders", env={"MTLS_CRL": str(pki.directory / "crl.pem")})


def test_fresh_crl_is_on_health_as_ok(
    new_pki: Callable[..., DevPKI], echo_servers: EchoServers
) -> None:
    pki = new_pki()
    pki.revoke("ops")
    server = _echo_with_crl(pki, echo_servers)
    with https(pki.directory, "storefront") as client:
        health = client.get(f"{server.url}/health").json()
    assert health["status"] == "ok"
    [crl] = health["crls"]
    assert crl["status"] == "ok"
    assert crl["revoked"] == 1
    assert crl["issuer"] == pki.leaf("orders").certificate.issuer.rfc4514_string()
    assert 7 * 24 - 1 <= crl["hours_left"] <= 7 * 24
    assert server.events(FRESHNESS) == []


def test_crl_past_half_its_life_makes_health_degraded_days_before_it_breaks(
    new_pki: Callable[..., DevPKI], echo_servers: EchoServers
) -> None:
    pki = new_pki()
    pki.crl(issued_at=datetime.now(UTC) - timedelta(days=4))  # 7-day CRL: 3 days left
    next_update = x509.load_pem_x509_crl((pki.directory / "crl.pem").read_bytes()).next_update_utc
    assert next_update is not None
    server = _echo_with_crl(pki, echo_servers)
    with https(pki.directory, "storefront") as client:
        answer = client.get(f"{server.url}/health")  # the CRL is still valid: handshakes work
    assert answer.status_code == 200
    health = answer.json()
    assert health["status"] == "degraded"
    [crl] = health["crls"]
    assert (crl["status"], crl["next_update"]) == ("degraded", next_update.isoformat())
    assert 3 * 24 - 1 <= crl["hours_left"] <= 3 * 24
    assert {cert["status"] for cert in health["certificates"]} == {"ok"}  # only the CRL is old

    [warning] = server.events(FRESHNESS)
    assert (warning["level"], warning["status"]) == ("warning", "degraded")
    assert warning["hours_left"] == crl["hours_left"]
    gauge = metric(
        server.url,
        pki.directory,
        "mtls_crl_next_update_timestamp_seconds",
        issuer=crl["issuer"],
    )
    assert gauge == next_update.timestamp()


def test_stale_crl_refuses_every_peer_and_says_so(
    new_pki: Callable[..., DevPKI], echo_servers: EchoServers
) -> None:
    """Why the CRL is watched: past its next-update OpenSSL refuses everyone, not one peer."""
    pki = new_pki()
    pki.crl(issued_at=datetime.now(UTC) - timedelta(days=8))
    server = _echo_with_crl(pki, echo_servers)
    [warning] = server.events(FRESHNESS)
    assert (warning["level"], warning["status"]) == ("error", "failing")
    assert warning["hours_left"] < 0

    for name in ("storefront", "ops"):  # neither is revoked
        peer, error = refused_request(client_context(pki.directory, name), server.port)
        refusal = server.wait_for_event("tls handshake refused", peer=peer)
        assert refusal["reason"] == "crl_expired", (refusal, error)
        assert "devpki crl" in refusal["hint"]


def test_crl_health_rule(new_pki: Callable[..., DevPKI]) -> None:
    """ok for the first half of its life, degraded for the second, failing outside it."""
    crl = x509.load_pem_x509_crl(new_pki().crl().read_bytes())
    start, end = crl.last_update_utc, crl.next_update_utc
    assert end is not None
    middle = start + (end - start) / 2
    second = timedelta(seconds=1)
    statuses = [
        crl_health(crl, now).status
        for now in (start - second, start, middle - second, middle, end - second, end)
    ]
    assert statuses == ["failing", "ok", "ok", "degraded", "degraded", "failing"]
