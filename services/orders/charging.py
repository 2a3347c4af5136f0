"""Charging an order through payments, from a request or from the retry loop.

The order id is the idempotency key, so however often an order is retried
(by the storefront, an operator, or the loop, even concurrently) payments
charges it once. While payments is unreachable the order stays
payment_pending with the cause noted, and is retried.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from mtls import PeerClient, PeerUnavailable
from servicekit.database import DatabaseUnavailable

from orders.models import Order
from orders.store import OrderStore

logger = logging.getLogger("orders.charging")


class PaymentsRefused(Exception):
    """payments answered, but not with a payment (an error status)."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"payments answered {status}")
        self.status, self.body = status, body


async def charge(order: Order, store: OrderStore, payments: PeerClient) -> Order:
    """Ask payments to authorize the order and record the outcome."""
    body = {"order_id": order.id, "amount_minor": order.amount_minor, "currency": order.currency}
    try:
        response = await payments.request(
            "POST", "/payments", json=body, headers={"Idempotency-Key": order.id}
        )
    except PeerUnavailable as exc:
        await store.note_payment_error(order.id, f"payments unavailable: {exc.why.cause}")
        raise
    if not response.is_success:
        await store.note_payment_error(order.id, f"payments answered {response.status_code}")
        raise PaymentsRefused(response.status_code, _json(response.text))
    recorded = await store.record_payment(order.id, response.json())
    assert recorded is not None
    return recorded


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text[:500]


async def retry_pending(store: OrderStore, payments: PeerClient, interval: float) -> None:
    """Retry orders whose payment is pending, every `interval` seconds, until cancelled."""
    while True:
        await asyncio.sleep(interval)
        try:
            await _retry_pass(store, payments, interval)
        except DatabaseUnavailable as exc:
            logger.warning("payment retry pass failed", extra={"error": str(exc)})


async def _retry_pass(store: OrderStore, payments: PeerClient, interval: float) -> None:
    cutoff = datetime.now(UTC) - timedelta(seconds=interval)
    for order_id in await store.pending_payment_ids(cutoff.isoformat(timespec="milliseconds")):
        order = await store.get(order_id)
        if order is None:
            continue
        try:
            order = await charge(order, store, payments)
        except (PeerUnavailable, PaymentsRefused) as exc:
            logger.warning("payment retry failed", extra={"order_id": order_id, "error": str(exc)})
            return  # payments is still away; the rest on the next pass
        logger.info("payment retried", extra={"order_id": order_id, "status": order.status})
