"""The order-to-settlement story over real mTLS sockets: storefront -> orders -> payments -> orders.

One pair of services serves the whole module; each test makes its own orders, so the
tests stay independent while paying for one start-up.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from devpki import DevPKI
from service_pair import ORDER, DatabaseKind, ServicePair

from harness.polling import eventually

DECLINE_ABOVE = 50_000


@pytest.fixture(scope="module")
def pair(
    default_pki: DevPKI, tmp_path_factory: pytest.TempPathFactory, database: DatabaseKind
) -> Iterator[ServicePair]:
    data_dir: Path = tmp_path_factory.mktemp("flow-data")
    env = {"PAYMENTS_DECLINE_ABOVE_MINOR": str(DECLINE_ABOVE)}
    with ServicePair.start(default_pki.directory, data_dir, database=database, **env) as services:
        yield services


def paid_order(pair: ServicePair) -> dict[str, object]:
    response = pair.create_order()
    assert response.status_code == 201, response.text
    order: dict[str, object] = response.json()
    assert order["status"] == "paid", order
    return order


def test_order_is_paid_then_settled_by_the_event_from_payments(pair: ServicePair) -> None:
    order = paid_order(pair)
    order_id = str(order["id"])

    settled = pair.wait_for_status(order_id, "settled")

    payments = pair.payments_of(order_id)
    assert [(p["id"], p["status"], p["amount_minor"]) for p in payments] == [
        (order["payment_id"], "settled", ORDER["amount_minor"])
    ]
    assert [(e["type"], e["payment_id"]) for e in pair.events_of(order_id)] == [
        ("payment.settled", order["payment_id"])
    ]
    assert settled["payment_id"] == order["payment_id"]
    eventually(lambda: pair.outbox_of(order_id)[0]["delivered_at"], "the event marked delivered")


def test_refund_is_requested_then_confirmed_by_the_refund_event(pair: ServicePair) -> None:
    order_id = str(paid_order(pair)["id"])
    pair.wait_for_status(order_id, "settled")

    with pair.client("storefront") as client:
        answer = client.post(f"{pair.orders_url}/orders/{order_id}/refund")
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "refund_requested"

    pair.wait_for_status(order_id, "refunded")
    assert [p["status"] for p in pair.payments_of(order_id)] == ["refunded"]
    assert [e["type"] for e in pair.events_of(order_id)] == ["payment.settled", "payment.refunded"]


def refund_events(pair: ServicePair, order_id: str) -> list[str]:
    return [r["event_id"] for r in pair.outbox_of(order_id) if '"payment.refunded"' in r["payload"]]


def test_refund_retried_is_harmless_before_and_after_the_event(pair: ServicePair) -> None:
    order_id = str(paid_order(pair)["id"])
    pair.wait_for_status(order_id, "settled")
    refund = f"{pair.orders_url}/orders/{order_id}/refund"
    with pair.client("storefront") as client:
        first, again = client.post(refund), client.post(refund)
        pair.wait_for_status(order_id, "refunded")
        after = client.post(refund)

    assert [a.status_code for a in (first, again, after)] == [200, 200, 200]
    assert {first.json()["status"], again.json()["status"]} <= {"refund_requested", "refunded"}
    assert after.json()["status"] == "refunded"
    assert len(refund_events(pair, order_id)) == 1
    assert [p["status"] for p in pair.payments_of(order_id)] == ["refunded"]
    assert [e["type"] for e in pair.events_of(order_id)] == ["payment.settled", "payment.refunded"]


def test_declined_order_is_not_refundable(pair: ServicePair) -> None:
    order = pair.create_order({**ORDER, "amount_minor": DECLINE_ABOVE + 1}).json()
    with pair.client("storefront") as client:
        answer = client.post(f"{pair.orders_url}/orders/{order['id']}/refund")
    assert answer.status_code == 409, answer.text
    assert answer.json()["detail"]["status"] == "payment_declined"
    assert pair.outbox_of(order["id"]) == []


def test_amount_above_the_limit_is_declined_with_the_reason(pair: ServicePair) -> None:
    response = pair.create_order({**ORDER, "amount_minor": DECLINE_ABOVE + 1})

    assert response.status_code == 201, response.text
    order = response.json()
    assert order["status"] == "payment_declined"
    assert str(DECLINE_ABOVE) in order["decline_reason"]
    assert [(p["status"], p["decline_reason"]) for p in pair.payments_of(order["id"])] == [
        ("declined", order["decline_reason"])
    ]


def test_storefront_retry_with_the_same_key_gets_the_same_order_and_one_payment(
    pair: ServicePair,
) -> None:
    key = f"checkout-{uuid.uuid4().hex}"
    first = pair.create_order(key=key)
    second = pair.create_order(key=key)

    assert (first.status_code, second.status_code) == (201, 200)
    assert "idempotent-replayed" not in first.headers
    assert second.headers["idempotent-replayed"] == "true"
    assert second.json()["id"] == first.json()["id"]
    assert second.json()["payment_id"] == first.json()["payment_id"]
    assert len(pair.payments_of(first.json()["id"])) == 1
    assert len(pair.query("orders", "SELECT id FROM orders WHERE client_key = ?", key)) == 1


def test_storefront_key_reused_for_a_different_order_is_a_conflict(pair: ServicePair) -> None:
    key = f"checkout-{uuid.uuid4().hex}"
    first = pair.create_order(key=key)
    orders_before = pair.count("orders", "orders")

    other = pair.create_order({**ORDER, "amount_minor": ORDER["amount_minor"] + 1}, key=key)

    assert other.status_code == 409, other.text
    assert other.json()["detail"]["error"] == "idempotency key reused"
    assert pair.count("orders", "orders") == orders_before
    assert len(pair.payments_of(first.json()["id"])) == 1
