"""The bad-certificate matrix: every way a caller can be wrong, tried on both running services.

Each case proves four things: where the refusal happens (the TLS handshake or a
403 before any handler), the server's audit line with the reason, the metric
that counts it, and that nothing happened (no handler ran, no row was written).
The client side is tried too: orders calling an impostor payments refuses it
and answers 503 naming payments and the reason.

The observations form the table in docs/security.md; the last test fails when
the table differs from this run (`make security-doc` rewrites it).
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.x509.oid import ExtendedKeyUsageOID
from devpki import DevPKI, Leaf
from security_support import (
    DOC,
    WRITE_DOC_ENV,
    Evidence,
    Row,
    State,
    documented_matrix,
    payments_impostor,
    render_matrix,
    write_matrix,
)
from service_pair import ORDER, DatabaseKind, ServicePair
from sessions_support import resumed, s_client, served, short_lived, wait_until_expired

from harness.clients import client_context
from harness.polling import eventually
from harness.probe import ClientView, http_request, probe

TRUST_DOMAIN = "demo.internal"
TARGETS = ("orders", "payments")
CREATOR = {"orders": "storefront", "payments": "orders"}  # who may create on each target
NOT_ALLOWED = {"orders": "payments", "payments": "storefront"}  # known, but not on that route
Credentials = tuple[Path, Path] | None


@dataclass
class Minter:
    """Issues each case's client certificate, claiming the identity the target would accept."""

    pki: DevPKI
    other: DevPKI  # another CA with the same trust domain: the spoofer's

    def issue(
        self, case: str, target: str, *, claim: str = "", spiffe_id: str = "", **options: Any
    ) -> Credentials:
        uri = spiffe_id or f"spiffe://{TRUST_DOMAIN}/{claim or CREATOR[target]}"
        leaf = self.pki.issue(f"{case}-{target}", client_only=True, spiffe_id=uri, **options)
        return leaf.chain_path, leaf.key_path

    def revoked(self, case: str, target: str) -> Credentials:
        credentials = self.issue(case, target)
        self.pki.revoke(f"{case}-{target}")
        return credentials

    @staticmethod
    def existing(pki: DevPKI, name: str) -> Credentials:
        leaf = pki.leaf(name)
        return leaf.chain_path, leaf.key_path


@dataclass(frozen=True)
class Case:
    id: str
    title: str
    layer: str  # "handshake" or "403"
    reason: str  # the audit/metric reason slug, or the 403's error
    mint: Callable[[Minter, str, str], Credentials]
    hint: str = ""  # a word the 403's explanation must contain
    max_version: ssl.TLSVersion | None = None
    weak: bool = False

    @property
    def expected(self) -> str:
        if self.layer == "handshake":
            return f"refused in the handshake ({self.reason})"
        return f"refused with 403 {self.reason}, before any handler"


def _later(days: int) -> datetime:
    return datetime.now(UTC) + timedelta(days=days)


CASES = [
    Case("no-cert", "no client certificate", "handshake", "certificate_required",
         lambda m, c, t: None),
    Case("self-signed", "self-signed client certificate", "handshake", "self_signed",
         lambda m, c, t: m.issue(c, t, self_signed=True)),
    Case("spoof", "another CA, valid SPIFFE ID (spoof)", "handshake", "unknown_ca",
         lambda m, c, t: m.existing(m.other, CREATOR[t])),
    Case("expired", "expired client certificate", "handshake", "expired",
         lambda m, c, t: m.issue(c, t, expired=True)),
    Case("not-yet-valid", "client certificate not yet valid", "handshake", "not_yet_valid",
         lambda m, c, t: m.issue(c, t, not_before=_later(2))),
    Case("server-eku", "client certificate with only the serverAuth EKU",
         "handshake", "wrong_purpose",
         lambda m, c, t: m.issue(c, t, eku=[ExtendedKeyUsageOID.SERVER_AUTH])),
    Case("ca-leaf", "a CA certificate used as a client leaf", "403", "no usable identity",
         lambda m, c, t: m.issue(c, t, is_ca=True), hint="CA certificate"),
    Case("revoked", "revoked client certificate (CRL configured)", "handshake", "revoked",
         lambda m, c, t: m.revoked(c, t)),
    Case("foreign-domain", "SPIFFE ID of a foreign trust domain (our CA)",
         "403", "no usable identity",
         lambda m, c, t: m.issue(c, t, spiffe_id=f"spiffe://partner.example/{CREATOR[t]}"),
         hint="trust domain"),
    Case("unknown", "valid certificate, unknown principal", "403", "forbidden",
         lambda m, c, t: m.issue(c, t, claim="mallory"), hint="mallory"),
    Case("wrong-route", "known principal on a forbidden route", "403", "forbidden",
         lambda m, c, t: m.existing(m.pki, NOT_ALLOWED[t]), hint="not allowed"),
    Case("tls12", "TLS 1.2-only client, 1.3 required", "handshake", "protocol_version",
         lambda m, c, t: m.existing(m.pki, CREATOR[t]), max_version=ssl.TLSVersion.TLSv1_2),
    Case("rsa1024", "RSA-1024 client key", "handshake", "weak_key",
         lambda m, c, t: m.issue(c, t, key_type="rsa1024"), weak=True),
    Case("sha1", "SHA-1-signed client certificate", "handshake", "weak_signature",
         lambda m, c, t: m.issue(c, t, hash_algorithm="sha1"), weak=True),
    Case("svid-two-uris", "SPIFFE ID plus a second, non-SPIFFE URI SAN",
         "403", "no usable identity",
         lambda m, c, t: m.issue(c, t, uris=(f"spiffe://{TRUST_DOMAIN}/{CREATOR[t]}",
                                             "https://x.example/")),
         hint="exactly one URI SAN"),
    Case("svid-upper-scheme", "upper-case SPIFFE:// scheme", "403", "no usable identity",
         lambda m, c, t: m.issue(c, t, uris=(f"SPIFFE://{TRUST_DOMAIN}/{CREATOR[t]}",)),
         hint="spiffe://"),
    Case("svid-long", "SPIFFE ID longer than 2048 bytes", "403", "no usable identity",
         lambda m, c, t: m.issue(c, t, uris=(f"spiffe://{TRUST_DOMAIN}/{CREATOR[t]}/"
                                             + "a" * 2100,)),
         hint="2048"),
    Case("ku-no-signature", "key usage without digitalSignature (keyAgreement)",
         "403", "no usable identity",
         lambda m, c, t: m.issue(c, t, key_usage={"digital_signature": False,
                                                  "key_agreement": True}),
         hint="digitalSignature"),
    Case("ku-crl-sign", "leaf key usage with cRLSign", "403", "no usable identity",
         lambda m, c, t: m.issue(c, t, key_usage={"crl_sign": True}), hint="cRLSign"),
    Case("ku-encipher-only", "key usage keyEncipherment only", "handshake", "wrong_purpose",
         lambda m, c, t: m.issue(c, t, key_usage={"digital_signature": False,
                                                  "key_encipherment": True})),
]  # fmt: skip
HANDSHAKE_CASES = [case for case in CASES if case.layer == "handshake"]
HTTP_CASES = [case for case in CASES if case.layer == "403"]


@dataclass(frozen=True)
class ServerCase:
    """Client side: orders calls a payments presenting this certificate."""

    id: str
    title: str
    reason: str


SERVER_CASES = [
    ServerCase("server-wrong-host", "server certificate for another hostname", "hostname_mismatch"),
    ServerCase("server-other-ca", "server certificate from another CA", "unknown_ca"),
    ServerCase("server-expired", "expired server certificate", "expired"),
]
LIVE_CASES = ("expired-open-connection", "expired-resumed-session")
LIMIT_CASES = ("body-10mb", "head-10mb", "forwarded-for")
ROW_ORDER = [
    *[(case.id, target) for case in CASES for target in TARGETS],
    *[(case, target) for case in LIVE_CASES for target in TARGETS],
    *[(case, target) for case in LIMIT_CASES for target in TARGETS],
    ("forged-event", "orders"),
    ("second-payment", "payments"),
    *[("tls12-allowed", target) for target in TARGETS],
    *[(case.id, "orders -> payments") for case in SERVER_CASES],
]


@dataclass
class Matrix:
    pki: DevPKI
    other: DevPKI
    credentials: dict[tuple[str, str], Credentials]
    rows: dict[tuple[str, str], Row] = field(default_factory=dict)


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory, database: DatabaseKind) -> Matrix:
    """Our own PKI (cases revoke and add leaves) and every case's certificate, minted once
    per database the services run on (each run observes, and checks the table, alone)."""
    pki = DevPKI(tmp_path_factory.mktemp("matrix-pki"), TRUST_DOMAIN)
    pki.make_default()
    other = DevPKI(tmp_path_factory.mktemp("spoofer-pki"), TRUST_DOMAIN)
    other.make_default()
    minter = Minter(pki, other)
    credentials = {
        (case.id, target): case.mint(minter, case.id, target)
        for case in CASES
        for target in TARGETS
    }
    return Matrix(pki, other, credentials)


@pytest.fixture(scope="module")
def evidence(
    matrix: Matrix, tmp_path_factory: pytest.TempPathFactory, database: DatabaseKind
) -> Iterator[Evidence]:
    """Both services with TLS 1.3 required and CRL checking, and a reader of their state."""
    data = tmp_path_factory.mktemp("matrix-data")
    with ServicePair.start(matrix.pki.directory, data, database=database) as pair:
        reader = Evidence(pair)
        yield reader
        reader.close()


@pytest.fixture(scope="module")
def evidence_tls12(
    matrix: Matrix, tmp_path_factory: pytest.TempPathFactory, database: DatabaseKind
) -> Iterator[Evidence]:
    """Both services with MTLS_MIN_TLS_VERSION=1.2."""
    data = tmp_path_factory.mktemp("matrix-tls12")
    with ServicePair.start(
        matrix.pki.directory, data, database=database, MTLS_MIN_TLS_VERSION="1.2"
    ) as pair:
        reader = Evidence(pair)
        yield reader
        reader.close()


def create_request(target: str, case_id: str) -> bytes:
    """The write each target guards: a new order, or a new payment."""
    if target == "orders":
        return http_request("POST", "/orders", ORDER)
    payment = {"order_id": f"ord_{case_id}", "amount_minor": 1999, "currency": "EUR"}
    return http_request("POST", "/payments", payment, {"Idempotency-Key": f"matrix-{case_id}"})


def attempt(
    evidence: Evidence, matrix: Matrix, case: Case, target: str
) -> tuple[State, ClientView]:
    credentials = matrix.credentials[(case.id, target)]
    cert, key = credentials or (None, None)
    context = client_context(
        None,
        None,
        ca=matrix.pki.ca_cert_path,
        cert=cert,
        key=key,
        max_version=case.max_version,
        weak_own_certificate=case.weak,
    )
    before = evidence.state()
    port = evidence.pair.orders_port if target == "orders" else evidence.pair.payments_port
    return before, probe(port, context, create_request(target, case.id))


def wait_for(found: Callable[[], list[dict[str, Any]]], what: str) -> list[dict[str, Any]]:
    """The service's log lines `found` returns, once there are some (10 s at most)."""
    return eventually(found, f"{what} in the service's log", timeout=10)


def written(before: State, after: State) -> str:
    return f"rows written: {sum(after.rows.values()) - sum(before.rows.values())}"


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("case", HANDSHAKE_CASES, ids=lambda case: case.id)
def test_bad_client_certificate_is_refused_in_the_handshake(
    case: Case, target: str, matrix: Matrix, evidence: Evidence
) -> None:
    before, view = attempt(evidence, matrix, case, target)

    refusals = wait_for(
        lambda: [
            line
            for line in evidence.events_since(before, target, "tls handshake refused")
            if line["peer"] == view.peer
        ],
        f"'tls handshake refused' line for {view.peer}",
    )
    after = evidence.state()
    reason = refusals[0]["reason"]
    name = "mtls_handshake_failures_total"
    counted = after.metric(target, name, reason=reason) - before.metric(target, name, reason=reason)
    handled = [line for t in TARGETS for line in evidence.handled_since(before, t)]
    matrix.rows[(case.id, target)] = Row(
        case.title,
        target,
        case.expected,
        f"handshake refused ({reason}); client saw: {view.outcome}; audit line; "
        f"{name} +{counted:g}; requests handled: {len(handled)}; {written(before, after)}",
    )

    assert view.status is None, f"the {case.title} caller got an HTTP answer: {view.body}"
    assert reason == case.reason, refusals[0]
    assert counted == 1
    assert handled == [], "a request got past a refused handshake"
    assert after.rows == before.rows, "a refused caller changed a database"


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("case", HTTP_CASES, ids=lambda case: case.id)
def test_bad_identity_is_refused_with_403_before_any_handler(
    case: Case, target: str, matrix: Matrix, evidence: Evidence
) -> None:
    before, view = attempt(evidence, matrix, case, target)

    access = wait_for(
        lambda: [
            line for line in evidence.handled_since(before, target) if line["peer"] == view.peer
        ],
        f"access line for {view.peer}",
    )
    after = evidence.state()
    detail = view.body["detail"] if isinstance(view.body, dict) else {}
    denied = case.reason == "forbidden"
    audit_event = "authorization denied" if denied else "identity refused"
    audits = evidence.events_since(before, target, audit_event)
    if denied:
        name, labels = (
            "mtls_authorization_denials_total",
            {"principal": detail.get("principal", "")},
        )
        labels["route"] = detail.get("route", "")
    else:  # no principal to count by: the access middleware counts it as principal "-"
        name, labels = "mtls_requests_total", {"principal": "-", "status": "403"}
    counted = after.metric(target, name, **labels) - before.metric(target, name, **labels)
    others = [line for t in TARGETS if t != target for line in evidence.handled_since(before, t)]
    matrix.rows[(case.id, target)] = Row(
        case.title,
        target,
        case.expected,
        f"HTTP {view.status} {detail.get('error')}; audit '{audit_event}' x{len(audits)}; "
        f"{name} +{counted:g}; handler ran: {'yes' if others else 'no'}; {written(before, after)}",
    )

    assert view.status == 403, view
    assert detail.get("error") == case.reason, detail
    assert case.hint in str(detail.get("reason") or detail.get("message")), detail
    assert [line["status"] for line in access] == [403]
    assert len(audits) == 1, evidence.servers()[target].output()
    said = ("principal", "route") if denied else ("reason",)
    assert {k: audits[0][k] for k in said} == {k: detail[k] for k in said}, (audits, detail)
    assert counted == 1
    assert others == [], "the handler ran: it called the other service"
    assert after.rows == before.rows, "a refused caller changed a database"


@pytest.mark.parametrize("target", TARGETS)
def test_tls12_client_is_served_when_min_tls_version_allows_1_2(
    target: str, matrix: Matrix, evidence_tls12: Evidence
) -> None:
    tls12 = next(case for case in CASES if case.id == "tls12")
    before, view = attempt(evidence_tls12, matrix, tls12, target)

    after = evidence_tls12.state()
    table = (target, "orders" if target == "orders" else "payments")
    written = after.rows[table] - before.rows[table]
    matrix.rows[("tls12-allowed", target)] = Row(
        "TLS 1.2-only client, MTLS_MIN_TLS_VERSION=1.2",
        target,
        "served (HTTP 201 over TLSv1.2)",
        f"HTTP {view.status} over {view.tls_version}; rows written: {written}",
    )

    assert view.status == 201, view
    assert view.tls_version == "TLSv1.2"
    assert written == 1


def _impostor_certificate(matrix: Matrix, case: ServerCase) -> tuple[Path, Path, Path | None]:
    """(cert, key, CA of the impostor) for a payments that orders must not trust."""
    spiffe_id = f"spiffe://{TRUST_DOMAIN}/payments"
    if case.id == "server-other-ca":
        leaf = matrix.other.leaf("payments")
        return leaf.chain_path, leaf.key_path, matrix.other.ca_cert_path
    if case.id == "server-wrong-host":
        leaf = matrix.pki.issue(case.id, dns=["payments.invalid"], spiffe_id=spiffe_id)
    else:
        options = {"dns": ["localhost"], "ips": ["127.0.0.1"], "expired": True}
        leaf = matrix.pki.issue(case.id, spiffe_id=spiffe_id, **options)
    return leaf.chain_path, leaf.key_path, None


@pytest.mark.parametrize("case", SERVER_CASES, ids=lambda case: case.id)
def test_orders_refuses_an_impostor_payments_and_answers_503_naming_it(
    case: ServerCase, matrix: Matrix, tmp_path: Path
) -> None:
    cert, key, ca = _impostor_certificate(matrix, case)
    with payments_impostor(matrix.pki.directory, tmp_path, cert, key, ca) as pair:
        with pair.client("storefront") as storefront:
            answer = storefront.post(pair.orders_url + "/orders", json=ORDER)
        detail = answer.json()["detail"]
        assert pair.payments is not None
        reached = pair.payments.events("request")
        charged = pair.query("payments", "SELECT COUNT(*) FROM payments")[0][0]
        saved = pair.query("orders", "SELECT status FROM orders")
    matrix.rows[(case.id, "orders -> payments")] = Row(
        case.title,
        "orders -> payments",
        f"orders refuses payments: 503 naming payments ({case.reason})",
        f"HTTP {answer.status_code} peer {detail.get('peer')} ({detail.get('reason')}); "
        f"requests reaching payments: {len(reached)}; order kept as "
        f"{', '.join(row['status'] for row in saved)}",
    )

    assert answer.status_code == 503, answer.text
    assert detail["peer"] == "payments"
    assert detail["reason"] == case.reason, detail
    assert reached == [], "orders sent a request to a payments it must not trust"
    assert charged == 0
    assert [row["status"] for row in saved] == ["payment_pending"]


# --------------------------------------------------- live sessions: expiry after the handshake

HEALTH = "GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"


def test_expiry_reaches_open_connections_and_resumed_sessions(
    matrix: Matrix, evidence: Evidence, tmp_path: Path
) -> None:
    """Both targets at once, so the certificates' few seconds of life run out only once."""
    live: dict[str, tuple[Leaf, httpx.Client, Path]] = {}
    for target in TARGETS:
        leaf = short_lived(matrix.pki, f"live-{target}", principal=CREATOR[target])
        context = client_context(
            None, None, ca=matrix.pki.ca_cert_path, cert=leaf.chain_path, key=leaf.key_path
        )
        client = httpx.Client(verify=context, timeout=10, limits=httpx.Limits(keepalive_expiry=60))
        session = tmp_path / f"{target}.session"
        assert client.get(evidence.url(target) + "/health").status_code == 200
        saved = s_client(matrix.pki, port_of(evidence, target), session, leaf=leaf, save=True,
                         request=HEALTH)  # fmt: skip
        assert served(saved), saved.stdout
        live[target] = (leaf, client, session)
    before = evidence.state()
    wait_until_expired(max((leaf for leaf, _, _ in live.values()), key=not_after))

    for target, (leaf, client, session) in live.items():
        late = client.get(evidence.url(target) + "/health")  # the same kept-alive connection
        client.close()
        resumed_late = s_client(matrix.pki, port_of(evidence, target), session, leaf=None,
                                save=False, request=HEALTH)  # fmt: skip
        refusal = wait_for(
            lambda t=target, serial=f"{leaf.serial:x}": [
                line for line in evidence.events_since(before, t, "tls handshake refused")
                if line.get("serial") == serial
            ],
            "the resumed session's refusal",
        )  # fmt: skip
        matrix.rows[("expired-open-connection", target)] = Row(
            "request on an open connection after the client certificate expired",
            target,
            "refused with 403, connection closed after the answer",
            f"HTTP {late.status_code} {late.json()['detail']['error']}; "
            f"connection: {late.headers.get('connection')}",
        )
        matrix.rows[("expired-resumed-session", target)] = Row(
            "resumed TLS session, no certificate sent, after the certificate expired",
            target,
            "refused in the handshake (expired)",
            f"{'resumed' if resumed(resumed_late) else 'not resumed'}, refused "
            f"({refusal[0]['reason']}); HTTP answer: {'yes' if served(resumed_late) else 'none'}",
        )
        assert late.status_code == 403
        assert late.headers.get("connection") == "close"
        assert resumed(resumed_late)
        assert not served(resumed_late)
        assert refusal[0]["reason"] == "expired"


def port_of(evidence: Evidence, target: str) -> int:
    return evidence.pair.orders_port if target == "orders" else evidence.pair.payments_port


def not_after(leaf: Leaf) -> datetime:
    return leaf.certificate.not_valid_after_utc


# ------------------------------------------------------------ limits, proxies, forged writes

TEN_MB = 10 * 1024 * 1024


@pytest.mark.parametrize("target", TARGETS)
def test_oversized_requests_and_forged_proxy_headers_are_refused(
    target: str, matrix: Matrix, evidence: Evidence
) -> None:
    creator = matrix.pki.leaf(CREATOR[target])
    context = client_context(
        None, None, ca=matrix.pki.ca_cert_path, cert=creator.chain_path, key=creator.key_path
    )
    port = port_of(evidence, target)
    before = evidence.state()
    body = probe(port, context, http_request("POST", f"/{target}", {"pad": "x" * TEN_MB},
                                             {"Idempotency-Key": "matrix-big"}))  # fmt: skip
    head = probe(port, context, b"GET /health HTTP/1.1\r\nHost: localhost\r\nX-Big: "
                 + b"a" * TEN_MB + b"\r\n\r\n")  # fmt: skip
    forwarded = probe(port, context, http_request("GET", "/health", None,
                                                  {"X-Forwarded-For": "203.0.113.7"}))  # fmt: skip
    access = wait_for(
        lambda: [line for line in evidence.handled_since(before, target)
                 if line["peer"] == forwarded.peer],
        "the forged X-Forwarded-For request's access line",
    )  # fmt: skip
    after = evidence.state()
    matrix.rows[("body-10mb", target)] = Row(
        "10 MB request body", target, "refused with 413 before it is read",
        f"HTTP {body.status}; {written(before, after)}",
    )  # fmt: skip
    matrix.rows[("head-10mb", target)] = Row(
        "10 MB request header", target, "refused with 431",
        f"HTTP {head.status}",
    )  # fmt: skip
    matrix.rows[("forwarded-for", target)] = Row(
        "forged X-Forwarded-For: 203.0.113.7", target, "ignored: the TCP peer is logged",
        f"HTTP {forwarded.status}; logged peer {access[0]['peer'].split(':')[0]}",
    )  # fmt: skip
    assert body.status == 413
    assert head.status == 431
    assert after.rows == before.rows
    assert access[0]["peer"] == forwarded.peer


def test_forged_payment_event_and_second_payment_are_refused_with_409(
    matrix: Matrix, evidence: Evidence
) -> None:
    pair = evidence.pair
    created = pair.create_order()
    assert created.status_code == 201, created.text
    order = created.json()
    forged = {"event_id": "evt_forged", "type": "payment.refunded", "payment_id": "pay_forged",
              "order_id": order["id"], "occurred_at": "2026-12-01T00:00:00.000+00:00"}  # fmt: skip
    with pair.client("payments") as payments:
        event = payments.post(f"{pair.orders_url}/orders/{order['id']}/payment-events",
                              json=forged)  # fmt: skip
    again = {"order_id": order["id"], "amount_minor": 1999, "currency": "EUR"}
    with pair.client("orders") as orders:
        second = orders.post(f"{pair.payments_url}/payments", json=again,
                             headers={"Idempotency-Key": "another-key"})  # fmt: skip
    status = pair.query("orders", "SELECT status, payment_id FROM orders WHERE id = ?", order["id"])
    matrix.rows[("forged-event", "orders")] = Row(
        "payment event naming a payment orders never recorded", "orders",
        "refused with 409, order unchanged",
        f"HTTP {event.status_code} {event.json()['detail']['error']}; order refunded: "
        f"{'yes' if status[0]['status'] == 'refunded' else 'no'}; its payment_id unchanged: "
        f"{'yes' if status[0]['payment_id'] == order['payment_id'] else 'no'}",
    )  # fmt: skip
    matrix.rows[("second-payment", "payments")] = Row(
        "second payment for one order under another idempotency key", "payments",
        "refused with 409 naming the existing payment",
        f"HTTP {second.status_code} {second.json()['detail']['error']}; payments of the order: "
        f"{len(pair.payments_of(order['id']))}",
    )  # fmt: skip
    assert event.status_code == 409
    assert status[0]["status"] in ("paid", "settled")
    assert status[0]["payment_id"] == order["payment_id"]
    assert second.status_code == 409
    assert second.json()["detail"]["payment_id"] == order["payment_id"]


def test_docs_security_md_shows_what_this_run_observed(matrix: Matrix) -> None:
    missing = [key for key in ROW_ORDER if key not in matrix.rows]
    if missing:
        pytest.skip(
            f"only part of the matrix ran ({len(missing)} rows missing); checked on a full run"
        )
    table = render_matrix([matrix.rows[key] for key in ROW_ORDER])
    if os.environ.get(WRITE_DOC_ENV) == "1":
        write_matrix(table)
    documented = documented_matrix()
    assert documented is not None, f"{DOC} has no matrix block: run `make security-doc`"
    assert documented == table, (
        f"{DOC} differs from what this run observed: run `make security-doc` and review the diff"
    )
