"""A bad order is refused with 422 naming each wrong field, and goes no further.

Nothing is stored in orders and payments is never called: validation happens before
the order exists, so a typo cannot turn into a charge.
"""

from __future__ import annotations

from typing import Any

import pytest
from service_pair import ORDER, ServicePair

ITEM = {"sku": "book", "quantity": 1}


def payment_calls(pair: ServicePair) -> int:
    """POST /payments requests payments has logged (its access log, one line each)."""
    assert pair.payments is not None
    return sum(1 for r in pair.payments.events("request") if r.get("path") == "/payments")


BAD_ORDERS = [
    pytest.param({**ORDER, "items": []}, [("body", "items")], id="empty items"),
    pytest.param({**ORDER, "amount_minor": -1}, [("body", "amount_minor")], id="negative amount"),
    pytest.param({**ORDER, "amount_minor": 0}, [("body", "amount_minor")], id="zero amount"),
    pytest.param({**ORDER, "currency": "EUO"}, [("body", "currency")], id="unknown currency"),
    pytest.param(
        {"items": [{**ITEM, "quantity": "two"}], "amount_minor": "lots", "currency": 978},
        [("body", "items", 0, "quantity"), ("body", "amount_minor"), ("body", "currency")],
        id="wrong types",
    ),
    pytest.param(
        {"items": [{"sku": "book; DROP TABLE", "quantity": 1}], "amount_minor": 5},
        [("body", "items", 0, "sku"), ("body", "currency")],
        id="bad sku and missing currency",
    ),
    pytest.param({}, [("body", "items"), ("body", "amount_minor"), ("body", "currency")], id="{}"),
]


@pytest.mark.parametrize(("body", "fields"), BAD_ORDERS)
def test_invalid_order_is_422_naming_the_fields_and_nothing_happens(
    pair: ServicePair, body: dict[str, Any], fields: list[tuple[Any, ...]]
) -> None:
    orders_before, calls_before = pair.count("orders", "orders"), payment_calls(pair)

    answer = pair.create_order(body)

    assert answer.status_code == 422, answer.text
    assert [tuple(error["loc"]) for error in answer.json()["detail"]] == fields
    assert pair.count("orders", "orders") == orders_before
    assert payment_calls(pair) == calls_before
    assert pair.count("payments", "payments") == 0


def test_unknown_currency_message_says_what_is_expected(pair: ServicePair) -> None:
    (error,) = pair.create_order({**ORDER, "currency": "EUO"}).json()["detail"]
    assert "'EUO' is not an ISO 4217 currency code" in error["msg"]


def test_payments_refuses_a_currency_that_orders_would_refuse(pair: ServicePair) -> None:
    """One currency rule for both services (it was ISO 4217 in orders, [A-Z]{3} in payments)."""
    body = {"order_id": "ord_currency_check", "amount_minor": 100, "currency": "EUO"}
    with pair.client("orders") as orders:
        answer = orders.post(f"{pair.payments_url}/payments", json=body,
                             headers={"Idempotency-Key": "currency-check"})  # fmt: skip
    assert answer.status_code == 422, answer.text
    (error,) = answer.json()["detail"]
    assert error["loc"] == ["body", "currency"]
    assert "'EUO' is not an ISO 4217 currency code" in error["msg"]
    assert pair.payments_of("ord_currency_check") == []


def test_malformed_json_is_422_at_the_broken_position(pair: ServicePair) -> None:
    orders_before = pair.count("orders", "orders")
    broken = b'{"items": [{"sku": "book", "quantity": 1}], "amount_minor": '
    with pair.client("storefront") as client:
        answer = client.post(
            f"{pair.orders_url}/orders",
            content=broken,
            headers={"Content-Type": "application/json"},
        )

    assert answer.status_code == 422, answer.text
    (error,) = answer.json()["detail"]
    assert (error["type"], error["loc"]) == ("json_invalid", ["body", len(broken)])
    assert pair.count("orders", "orders") == orders_before
    assert pair.count("payments", "payments") == 0


def test_overlong_idempotency_key_is_422_naming_the_header(pair: ServicePair) -> None:
    orders_before = pair.count("orders", "orders")

    answer = pair.create_order(key="k" * 129)

    assert answer.status_code == 422, answer.text
    assert [tuple(e["loc"]) for e in answer.json()["detail"]] == [("header", "Idempotency-Key")]
    assert pair.count("orders", "orders") == orders_before
