"""The audit trail: one JSON line per certificate event, each counted, never key material.

One server lives through one of each event: it starts with a certificate
inside the expiry window, refuses a client without a certificate, denies a
caller a route, and reloads a renewed certificate. Each line appears exactly
once with the fields an operator needs, and the metrics agree.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from certsupport import refusals, refused_request
from conftest import EchoServers
from cryptography.hazmat.primitives.asymmetric import ec
from devpki import DevPKI, Leaf

from harness.clients import client_context, https
from harness.metrics import metric

EVENTS = (
    "certificate expiry warning",
    "tls handshake refused",
    "authorization denied",
    "tls material reloaded",
)


def _secrets(leaf: Leaf) -> list[str]:
    """Strings that would betray the leaf's private key in a log."""
    pem_lines = [line for line in leaf.key_pem().decode().splitlines() if len(line) >= 16]
    key = leaf.private_key
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    value = key.private_numbers().private_value
    return [*pem_lines, f"{value:x}", str(value)]


def test_each_certificate_event_is_one_json_line_and_one_count(
    new_pki: Callable[..., DevPKI], echo_servers: EchoServers
) -> None:
    pki = new_pki()
    first = pki.issue("orders", dns=("orders", "localhost"), ips=("127.0.0.1",), days=20)
    server = echo_servers.start(pki, "orders")
    server.wait_for_event("certificate expiry warning")

    anonymous = client_context(pki.directory, None)
    peer, _ = refused_request(anonymous, server.port)
    server.wait_for_event("tls handshake refused", peer=peer)

    with https(pki.directory, "storefront") as client:
        assert client.post(f"{server.url}/ops-only").status_code == 403
    server.wait_for_event("authorization denied")

    renewed = pki.renew("orders")
    server.wait_for_event("tls material reloaded", new_serial=f"{renewed.serial:x}")

    counts = {
        "handshake_failures": metric(
            server.url,
            pki.directory,
            "mtls_handshake_failures_total",
            reason="certificate_required",
        ),
        "denials": metric(
            server.url,
            pki.directory,
            "mtls_authorization_denials_total",
            principal="storefront",
            route="POST /ops-only",
        ),
        "requests": metric(
            server.url, pki.directory, "mtls_requests_total", principal="storefront", status="403"
        ),
    }
    lines = server.snapshot()
    by_event = {event: server.events(event) for event in EVENTS}
    by_event["tls handshake refused"] = refusals(server)

    assert {event: len(found) for event, found in by_event.items()} == dict.fromkeys(EVENTS, 1)
    [warning] = by_event["certificate expiry warning"]
    assert warning["serial"] == f"{first.serial:x}"
    assert warning["days_left"] == 19
    [refusal] = by_event["tls handshake refused"]
    assert refusal["peer"] == peer
    assert refusal["reason"] == "certificate_required"
    [denial] = by_event["authorization denied"]
    assert (denial["principal"], denial["route"]) == ("storefront", "POST /ops-only")
    [reload] = by_event["tls material reloaded"]
    assert (reload["old_serial"], reload["new_serial"]) == (
        f"{first.serial:x}",
        f"{renewed.serial:x}",
    )
    for found in by_event.values():
        assert found[0]["logger"] == "mtls.audit"
    assert counts == {"handshake_failures": 1.0, "denials": 1.0, "requests": 1.0}

    assert all(isinstance(json.loads(line), dict) for line in lines), "a line is not JSON"
    output = "\n".join(lines)
    assert "PRIVATE KEY" not in output
    for secret in _secrets(first) + _secrets(renewed):
        assert secret not in output
