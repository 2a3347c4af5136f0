"""The orders API. Each handler states who may call it."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Annotated, Any, NoReturn

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, Response
from mtls import PeerClient, PeerUnavailable, allow, audit
from servicekit.answers import RETRY_AFTER_SECONDS, answer_create, found
from servicekit.service import state_of

from orders.charging import PaymentsRefused, charge
from orders.models import Order, OrderRequest, OrderStatus, PaymentEvent, ReceivedEvent
from orders.store import EventRefused, OrderStore

router = APIRouter(tags=["orders"])


@dataclass(frozen=True)
class OrdersState:
    """What the routes use, made at start-up (orders.app)."""

    store: OrderStore
    payments: PeerClient


# The dependencies are async although they do not wait: FastAPI runs a plain `def` in a
# worker thread, a hop per request (tests/services/test_dependencies.py).
async def store(request: Request) -> OrderStore:
    return state_of(request, OrdersState).store


async def payments(request: Request) -> PeerClient:
    return state_of(request, OrdersState).payments


Store = Annotated[OrderStore, Depends(store)]
Payments = Annotated[PeerClient, Depends(payments)]
ClientKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=128,
        description="Optional: a storefront retry with the same key gets the same order.",
    ),
]


def _found(order: Order | None, order_id: str) -> Order:
    return found(order, "order", order_id)


def _unavailable(exc: PeerUnavailable, order: Order) -> NoReturn:
    detail: dict[str, Any] = exc.as_dict()
    detail["order"] = {"id": order.id, "status": order.status}
    detail["message"] = (
        f"order {order.id} is saved as {order.status}; it will be retried automatically, "
        f"or POST /orders/{order.id}/retry-payment"
    )
    raise HTTPException(503, detail=detail, headers={"Retry-After": RETRY_AFTER_SECONDS})


def _refused(exc: PaymentsRefused, order: Order) -> NoReturn:
    if exc.status == 503:  # payments is up but cannot serve (its database is down, say)
        detail = {"error": "peer unavailable", "peer": "payments", "status": 503}
        detail |= {"body": exc.body, "order": {"id": order.id, "status": order.status}}
        raise HTTPException(503, detail=detail, headers={"Retry-After": RETRY_AFTER_SECONDS})
    detail = {"error": "payments refused the request", "peer": "payments", "status": exc.status}
    raise HTTPException(502, detail={**detail, "body": exc.body, "order": {"id": order.id}})


async def _charge(order: Order, orders: OrderStore, gateway: PeerClient) -> Order:
    try:
        return await charge(order, orders, gateway)
    except PeerUnavailable as exc:
        _unavailable(exc, _found(await orders.get(order.id), order.id))
    except PaymentsRefused as exc:
        _refused(exc, order)


@router.post("/orders", status_code=201, dependencies=[Depends(allow("storefront"))])
async def create_order(
    body: OrderRequest, orders: Store, gateway: Payments, response: Response, key: ClientKey = None
) -> Order:
    """Save the order, then have payments charge it (the order id is the idempotency key)."""
    order, created = await orders.create(body, key)
    answer_create(response, created)
    if order.status != "payment_pending":
        return order
    return await _charge(order, orders, gateway)


@router.get("/orders", dependencies=[Depends(allow("storefront", "ops"))])
async def list_orders(
    orders: Store,
    status: OrderStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[Order]:
    return await orders.recent(status, limit)


@router.get("/orders/{order_id}", dependencies=[Depends(allow("storefront", "ops"))])
async def get_order(order_id: str, orders: Store) -> Order:
    return _found(await orders.get(order_id), order_id)


@router.get("/orders/{order_id}/events", dependencies=[Depends(allow("storefront", "ops"))])
async def order_events(order_id: str, orders: Store) -> list[ReceivedEvent]:
    """The payment events payments delivered for this order (`make demo` prints them)."""
    _found(await orders.get(order_id), order_id)
    return await orders.events(order_id)


@router.post("/orders/{order_id}/retry-payment", dependencies=[Depends(allow("storefront", "ops"))])
async def retry_payment(order_id: str, orders: Store, gateway: Payments) -> Order:
    """Charge a payment_pending order now (payments will not charge it twice)."""
    order = _found(await orders.get(order_id), order_id)
    if order.status != "payment_pending":
        return order
    return await _charge(order, orders, gateway)


@router.post("/orders/{order_id}/payment-events", dependencies=[Depends(allow("payments"))])
async def payment_event(order_id: str, event: PaymentEvent, orders: Store) -> dict[str, Any]:
    """Apply a settled/refunded event from payments; a repeated event changes nothing, one
    that does not fit the order's recorded payment is a 409 that changes nothing."""
    if event.order_id != order_id:
        raise HTTPException(422, detail={"error": "order_id in the body differs from the path"})
    try:
        applied, order = await orders.apply_event(event)
    except EventRefused as exc:
        audit(
            "payment event refused",
            logging.WARNING,
            order_id=order_id,
            event_id=event.event_id,
            type=event.type,
            payment_id=event.payment_id,
            reason=str(exc),
        )
        raise
    return {"applied": applied, "order": _found(order, order_id)}


@router.post("/orders/{order_id}/refund", dependencies=[Depends(allow("storefront"))])
async def refund_order(order_id: str, orders: Store, gateway: Payments) -> Order:
    """Ask payments to refund; the order becomes refunded when the refund event arrives.

    Refunding again (a retry) is harmless: payments refunds once, a refunded order is returned.
    """
    order = _found(await orders.get(order_id), order_id)
    if order.status == "refunded":
        return order
    if order.status not in ("paid", "settled", "refund_requested") or order.payment_id is None:
        raise HTTPException(
            409, detail={"error": "not refundable", "order_id": order_id, "status": order.status}
        )
    try:
        answer = await gateway.request("POST", f"/payments/{order.payment_id}/refund")
    except PeerUnavailable as exc:
        _unavailable(exc, order)
    if not answer.is_success:
        _refused(PaymentsRefused(answer.status_code, answer.text[:500]), order)
    return _found(await orders.mark_refund_requested(order_id), order_id)
