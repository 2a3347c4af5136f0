"""When one service is down or refuses TLS, nothing is lost and nothing is charged twice.

Each test runs its own pair of real processes, stops or misconfigures one of them,
and brings it back on the same port with the same database, as an operator would.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from devpki import DevPKI
from service_pair import DatabaseKind, ServicePair

from harness.polling import eventually
from harness.processes import ServerProcess


def running(server: ServerProcess | None) -> ServerProcess:
    assert server is not None, "the service was not started"
    return server


def unavailable(response: Any, reason: str) -> dict[str, Any]:
    """The 503 detail of an order that payments could not charge; checks it names payments."""
    assert response.status_code == 503, response.text
    detail: dict[str, Any] = response.json()["detail"]
    assert (detail["error"], detail["peer"], detail["reason"]) == (
        "peer unavailable",
        "payments",
        reason,
    ), detail
    assert detail["order"]["status"] == "payment_pending"
    assert response.headers["retry-after"]
    return detail


def stored_order(pair: ServicePair, order_id: str) -> dict[str, Any]:
    (row,) = pair.query("orders", "SELECT * FROM orders WHERE id = ?", order_id)
    return dict(row)


def test_order_made_while_payments_is_down_is_kept_and_charged_once_when_it_returns(
    default_pki: DevPKI, tmp_path: Path, database: DatabaseKind
) -> None:
    with ServicePair.start(default_pki.directory, tmp_path, database=database) as pair:
        running(pair.payments).stop()

        detail = unavailable(pair.create_order(), "unreachable")

        order_id = detail["order"]["id"]
        saved = stored_order(pair, order_id)
        assert saved["status"] == "payment_pending"
        assert "payments unavailable" in saved["last_payment_error"]

        pair.start_payments()  # same port, same database
        paid = pair.wait_for_status(order_id, "paid")
        running(pair.orders).wait_for_event("payment retried", order_id=order_id, status="paid")
        assert paid["last_payment_error"] is None
        assert [p["id"] for p in pair.payments_of(order_id)] == [paid["payment_id"]]
        pair.wait_for_status(order_id, "settled")
        assert len(pair.payments_of(order_id)) == 1


def test_retry_payment_charges_a_pending_order_once(
    default_pki: DevPKI, tmp_path: Path, database: DatabaseKind
) -> None:
    never = {"ORDERS_PAYMENT_RETRY_INTERVAL": "3600"}  # only the explicit retry may charge
    with ServicePair.start(
        default_pki.directory, tmp_path, orders_env=never, database=database
    ) as pair:
        running(pair.payments).stop()
        order_id = unavailable(pair.create_order(), "unreachable")["order"]["id"]
        retry = f"{pair.orders_url}/orders/{order_id}/retry-payment"
        with pair.client("ops") as ops:
            unavailable(ops.post(retry), "unreachable")

            pair.start_payments()
            answers = [ops.post(retry) for _ in range(3)]

        assert [a.status_code for a in answers] == [200, 200, 200], [a.text for a in answers]
        assert {a.json()["status"] for a in answers} == {"paid"}
        assert [p["id"] for p in pair.payments_of(order_id)] == [answers[0].json()["payment_id"]]


def test_payments_with_a_certificate_from_another_ca_is_named_as_unknown_ca(
    default_pki: DevPKI, new_pki: Callable[..., DevPKI], tmp_path: Path
) -> None:
    # On SQLite only: PostgreSQL refuses the impostor's login, so it never starts there
    # (tests/security/test_database_hop.py, the service that cannot log in).
    foreign = new_pki().directory / "payments"  # same name and SANs, another CA
    impostor = {"MTLS_CERT": str(foreign / "chain.pem"), "MTLS_KEY": str(foreign / "key.pem")}
    with ServicePair.start(default_pki.directory, tmp_path, payments_env=impostor) as pair:
        detail = unavailable(pair.create_order(), "unknown_ca")

        assert "not signed by a trusted CA" in detail["cause"]
        saved = stored_order(pair, detail["order"]["id"])
        assert saved["status"] == "payment_pending"
        assert "not signed by a trusted CA" in saved["last_payment_error"]
        assert pair.count("payments", "payments") == 0
        running(pair.payments).wait_for_event("tls handshake refused")


def test_settle_event_waits_in_the_outbox_while_orders_is_down(
    default_pki: DevPKI, tmp_path: Path, database: DatabaseKind
) -> None:
    slow_settle = {"PAYMENTS_SETTLE_DELAY": "1.0"}
    with ServicePair.start(
        default_pki.directory, tmp_path, payments_env=slow_settle, database=database
    ) as pair:
        response = pair.create_order()
        assert response.json()["status"] == "paid", response.text
        order_id = response.json()["id"]
        running(pair.orders).kill()  # gone before the payment settles

        def failed_delivery() -> dict[str, Any] | None:
            rows = pair.outbox_of(order_id)
            return dict(rows[0]) if rows and rows[0]["attempts"] > 0 else None

        pending = eventually(failed_delivery, "a failed delivery of the settle event")
        assert pending["delivered_at"] is None
        assert pending["last_error"].startswith("unreachable")
        assert '"payment.settled"' in pending["payload"]

        pair.start_orders()
        pair.wait_for_status(order_id, "settled")
        eventually(
            lambda: pair.outbox_of(order_id)[0]["delivered_at"], "the event marked delivered"
        )
        assert [row["event_id"] for row in pair.outbox_of(order_id)] == [pending["event_id"]]
        assert [e["event_id"] for e in pair.events_of(order_id)] == [pending["event_id"]]
