"""Payment events are checked, one payment per order, and a refused event is parked, not retried.

Only payments may post events, but payments' certificate is no licence to
rewrite an order: an event applies only to the payment orders recorded for that
order, and only as a forward move that payment's state allows.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from devpki import DevPKI
from service_pair import DatabaseKind, ServicePair

from harness.polling import eventually


@pytest.fixture(scope="module")
def pair(
    default_pki: DevPKI, tmp_path_factory: pytest.TempPathFactory, database: DatabaseKind
) -> Iterator[ServicePair]:
    # Settlement is slow here, so an order stays "paid" until a test settles it.
    data = tmp_path_factory.mktemp("events")
    with ServicePair.start(
        default_pki.directory,
        data,
        database=database,
        payments_env={"PAYMENTS_SETTLE_DELAY": "3600"},
    ) as pair:
        yield pair


def event(order_id: str, payment_id: str, kind: str) -> dict[str, Any]:
    return {
        "event_id": f"evt_{uuid.uuid4().hex}",
        "type": kind,
        "payment_id": payment_id,
        "order_id": order_id,
        "occurred_at": "2026-12-01T00:00:00.000+00:00",
    }


def post_event(pair: ServicePair, body: dict[str, Any]) -> Any:
    with pair.client("payments") as payments:
        return payments.post(
            f"{pair.orders_url}/orders/{body['order_id']}/payment-events", json=body
        )


def paid_order(pair: ServicePair) -> dict[str, Any]:
    response = pair.create_order()
    assert response.status_code == 201, response.text
    order: dict[str, Any] = response.json()
    assert order["status"] == "paid"
    return order


def stored(pair: ServicePair, order_id: str) -> dict[str, Any]:
    row = pair.query("orders", "SELECT status, payment_id FROM orders WHERE id = ?", order_id)[0]
    return dict(row)


def test_refund_event_naming_a_payment_orders_never_recorded_is_a_409_and_changes_nothing(
    pair: ServicePair,
) -> None:
    order = paid_order(pair)
    before = stored(pair, order["id"])

    answer = post_event(pair, event(order["id"], "pay_forged", "payment.refunded"))

    assert answer.status_code == 409, answer.text
    detail = answer.json()["detail"]
    assert detail["error"] == "event refused"
    assert order["payment_id"] in detail["reason"]
    assert stored(pair, order["id"]) == before
    assert pair.events_of(order["id"]) == []
    assert pair.orders is not None
    pair.orders.wait_for_event("payment event refused", order_id=order["id"])


def test_settled_event_for_an_order_never_charged_is_a_409(pair: ServicePair) -> None:
    pair.stop()  # orders alone: payments down, so the order stays payment_pending
    pair.start_orders()
    try:
        response = pair.create_order()
        assert response.status_code == 503
        order_id = response.json()["detail"]["order"]["id"]
        answer = post_event(pair, event(order_id, "pay_anything", "payment.settled"))
    finally:
        pair.start_payments()

    assert answer.status_code == 409, answer.text
    assert stored(pair, order_id)["status"] == "payment_pending"


def test_refund_event_before_a_refund_was_possible_moves_only_forward(pair: ServicePair) -> None:
    order = paid_order(pair)
    refunded = post_event(pair, event(order["id"], order["payment_id"], "payment.refunded"))
    assert refunded.status_code == 200, refunded.text
    settled_late = post_event(pair, event(order["id"], order["payment_id"], "payment.settled"))
    assert settled_late.status_code == 409, settled_late.text
    assert stored(pair, order["id"])["status"] == "refunded"


def test_payments_keeps_one_payment_per_order_whatever_the_idempotency_key(
    pair: ServicePair,
) -> None:
    order_id = f"ord_{uuid.uuid4().hex}"
    body = {"order_id": order_id, "amount_minor": 1234, "currency": "EUR"}
    with pair.client("orders") as orders:
        first = orders.post(f"{pair.payments_url}/payments", json=body,
                            headers={"Idempotency-Key": "key-one"})  # fmt: skip
        second = orders.post(f"{pair.payments_url}/payments", json=body,
                             headers={"Idempotency-Key": "key-two"})  # fmt: skip
    assert first.status_code == 201, first.text
    assert second.status_code == 409, second.text
    assert second.json()["detail"]["payment_id"] == first.json()["id"]
    assert len(pair.payments_of(order_id)) == 1


def test_event_refused_permanently_is_parked_as_dead_and_not_retried(pair: ServicePair) -> None:
    # A payment for an order orders never heard of: its refund event gets a 404 from orders.
    order_id = f"ord_{uuid.uuid4().hex}"
    body = {"order_id": order_id, "amount_minor": 500, "currency": "EUR"}
    with pair.client("orders") as orders:
        payment = orders.post(f"{pair.payments_url}/payments", json=body,
                              headers={"Idempotency-Key": order_id}).json()  # fmt: skip
        refund = orders.post(f"{pair.payments_url}/payments/{payment['id']}/refund")
    assert refund.status_code == 200

    rows = eventually(
        lambda: [r for r in pair.outbox_of(order_id) if r["dead_at"] is not None],
        "the refused event parked as dead",
    )
    time.sleep(2)  # several outbox passes (0.1 s apart, backoff capped at 1 s)

    again = pair.outbox_of(order_id)
    assert [row["attempts"] for row in again] == [1], "a dead event was retried"
    assert "404" in rows[0]["last_error"]
    assert pair.payments is not None
    parked = pair.payments.wait_for_event("event parked as dead", order_id=order_id)
    assert parked["status"] == 404
    with pair.client("ops") as ops:
        metrics = ops.get(pair.payments_url + "/metrics").text
    assert 'payments_outbox_dead_total{status="404"} 1.0' in metrics
