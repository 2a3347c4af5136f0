"""The audit trail: one JSON line per certificate event, each counted, never key material.

One server lives through one of each event: it starts with a certificate
inside the expiry window, refuses a client without a certificate, denies a
caller a route, and reloads a renewed certificate. Each line appears exactly
once with the fields an operator needs, and the metrics agree.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from certsupport import refusals, refused_request
from conftest import EchoServers
from cryptography.hazmat.primitives.asymmetric import ec
from devpki import DevPKI, Leaf
from devpki.renewer import Renewer
from mtls.certfacts import event_fields

from harness.clients import client_context, https
from harness.metrics import metric
from harness.processes import run_module

CERTIFICATE_FIELDS = ("subject", "serial", "issuer", "not_after")
EVENTS = (
    "certificate expiry warning",
    "tls handshake refused",
    "authorization denied",
    "tls material reloaded",
)


def _named(line: dict[str, Any]) -> dict[str, Any]:
    """The fields by which an audit line names its certificate."""
    return {key: line.get(key) for key in CERTIFICATE_FIELDS}


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
    server.wait_for_event("tls material reloaded", serial=f"{renewed.serial:x}")

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
    assert reload["old_serial"] == f"{first.serial:x}"
    assert _named(reload) == event_fields(renewed.certificate)
    assert _named(warning) == event_fields(first.certificate)
    for found in by_event.values():
        assert found[0]["logger"] == "mtls.audit"
    assert counts == {"handshake_failures": 1.0, "denials": 1.0, "requests": 1.0}

    assert all(isinstance(json.loads(line), dict) for line in lines), "a line is not JSON"
    output = "\n".join(lines)
    assert "PRIVATE KEY" not in output
    for secret in _secrets(first) + _secrets(renewed):
        assert secret not in output


def _audit_lines(stderr: str) -> dict[str, list[dict[str, Any]]]:
    by_event: dict[str, list[dict[str, Any]]] = {}
    for line in stderr.splitlines():
        record = json.loads(line)
        assert record["logger"] == "mtls.audit", line
        by_event.setdefault(record["event"], []).append(record)
    return by_event


def test_the_pki_writes_an_audit_line_per_certificate_issued_renewed_or_revoked(
    tmp_path: Path,
) -> None:
    directory = str(tmp_path / "pki")
    made = run_module("devpki", {}, "--dir", directory, "make-default")
    renewed = run_module("devpki", {}, "--dir", directory, "renew", "orders")
    revoked = run_module("devpki", {}, "--dir", directory, "revoke", "storefront")
    assert (made.returncode, renewed.returncode, revoked.returncode) == (0, 0, 0)
    pki = DevPKI(directory)

    issued = _audit_lines(made.stderr)["certificate issued"]
    assert sorted(line["leaf"] for line in issued) == sorted(pki.leaves())
    [renewal] = _audit_lines(renewed.stderr)["certificate renewed"]
    [revocation] = _audit_lines(revoked.stderr)["certificate revoked"]

    first_orders = next(line for line in issued if line["leaf"] == "orders")
    assert renewal["old_serial"] == first_orders["serial"]
    assert _named(renewal) == event_fields(pki.leaf("orders").certificate)
    assert _named(revocation) == event_fields(pki.leaf("storefront").certificate)
    assert "wrote" in made.stdout  # people read stdout; the audit lines go to stderr


def test_a_failed_renewal_names_the_certificate_that_keeps_serving(
    new_pki: Callable[..., DevPKI], caplog: pytest.LogCaptureFixture
) -> None:
    pki = new_pki()
    old = pki.leaf("orders").certificate
    shutil.rmtree(pki.directory / "ca")  # the CA keys are gone: nothing can be signed
    caplog.set_level(logging.INFO, "mtls.audit")

    Renewer(pki).check(now=old.not_valid_after_utc)  # every leaf is due

    failed = [r for r in caplog.records if r.getMessage() == "certificate renewal failed"]
    orders = next(vars(r) for r in failed if vars(r)["leaf"] == "orders")
    assert _named(orders) == event_fields(old)
    assert orders["failures"] == 1
    assert "ca" in orders["reason"]
