"""Retries that arrive together never charge twice: concurrent requests with one key, real sockets.

The retries are sent at once over separate connections (asyncio.gather), the way a
client that timed out and a retry loop can overlap in production.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
from service_pair import ORDER, ServicePair

from harness.clients import client_context

RETRIES = 20


def send_together(
    pair: ServicePair, name: str, url: str, body: dict[str, Any], key: str, count: int = RETRIES
) -> list[httpx.Response]:
    """`count` POSTs with the same Idempotency-Key, each on its own connection, all at once."""

    async def burst() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=count)
        verify = client_context(pair.pki_dir, name)
        async with httpx.AsyncClient(verify=verify, limits=limits, timeout=30.0) as client:
            headers = {"Idempotency-Key": key}
            calls = [client.post(url, json=body, headers=headers) for _ in range(count)]
            return list(await asyncio.gather(*calls))

    return asyncio.run(burst())


def test_concurrent_payment_retries_charge_once(pair: ServicePair) -> None:
    order_id = f"ord_{uuid.uuid4().hex}"
    body = {"order_id": order_id, "amount_minor": 1234, "currency": "EUR"}

    answers = send_together(pair, "orders", f"{pair.payments_url}/payments", body, key=order_id)

    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200] * (RETRIES - 1) + [201], [a.text for a in answers]
    payment_ids = {answer.json()["id"] for answer in answers}
    rows = pair.payments_of(order_id)
    assert len(rows) == 1
    assert payment_ids == {rows[0]["id"]}
    replayed = [a for a in answers if a.headers.get("idempotent-replayed") == "true"]
    assert len(replayed) == RETRIES - 1


def test_payment_key_reused_with_another_amount_is_a_conflict(pair: ServicePair) -> None:
    order_id = f"ord_{uuid.uuid4().hex}"
    body = {"order_id": order_id, "amount_minor": 1234, "currency": "EUR"}
    headers = {"Idempotency-Key": order_id}
    with pair.client("orders") as client:
        first = client.post(f"{pair.payments_url}/payments", json=body, headers=headers)
        other = {**body, "amount_minor": 4321}
        second = client.post(f"{pair.payments_url}/payments", json=other, headers=headers)

    assert first.status_code == 201, first.text
    assert second.status_code == 409, second.text
    assert second.json()["detail"]["error"] == "idempotency key reused"
    assert [row["amount_minor"] for row in pair.payments_of(order_id)] == [1234]


def test_concurrent_storefront_retries_make_one_order_and_one_payment(pair: ServicePair) -> None:
    key = f"checkout-{uuid.uuid4().hex}"
    orders_before = pair.count("orders", "orders")

    answers = send_together(pair, "storefront", f"{pair.orders_url}/orders", ORDER, key=key)

    assert sorted(a.status_code for a in answers) == [200] * (RETRIES - 1) + [201]
    order_ids = {answer.json()["id"] for answer in answers}
    assert len(order_ids) == 1
    (order_id,) = order_ids
    assert pair.count("orders", "orders") == orders_before + 1
    assert len(pair.payments_of(order_id)) == 1
    assert {a.json()["payment_id"] for a in answers if a.json()["status"] == "paid"} == {
        pair.payments_of(order_id)[0]["id"]
    }
