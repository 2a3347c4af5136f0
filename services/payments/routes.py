"""The payments API. Each handler states who may call it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Request, Response
from mtls import allow

from payments.models import Payment, PaymentRequest
from payments.store import IdempotencyConflict, OrderAlreadyHasPayment, PaymentStore

router = APIRouter(tags=["payments"])
IdempotencyKey = Annotated[
    str,
    Header(
        min_length=1,
        max_length=128,
        description="One key per logical payment (orders sends the order id): "
        "a retry with the same key returns the same payment and never charges twice.",
    ),
]


def store(request: Request) -> PaymentStore:
    return request.app.state.store  # type: ignore[no-any-return]


Store = Annotated[PaymentStore, Depends(store)]


def _found(payment: Payment | None, payment_id: str) -> Payment:
    if payment is None:
        raise HTTPException(404, detail={"error": "not found", "payment_id": payment_id})
    return payment


@router.post("/payments", status_code=201, dependencies=[Depends(allow("orders"))])
async def create_payment(
    body: PaymentRequest,
    idempotency_key: IdempotencyKey,
    payments: Store,
    request: Request,
    response: Response,
) -> Payment:
    """Authorize a payment, or decline it above the configured limit; idempotent on the key,
    and at most one payment per order whatever the key."""
    limit = request.app.state.settings.decline_above_minor
    try:
        payment, created = payments.authorize(idempotency_key, body, limit)
    except IdempotencyConflict:
        raise HTTPException(
            409,
            detail={
                "error": "idempotency key reused",
                "message": f"key {idempotency_key!r} was used for a different payment",
            },
        ) from None
    except OrderAlreadyHasPayment as exc:
        raise HTTPException(
            409,
            detail={
                "error": "order already has a payment",
                "payment_id": exc.payment.id,
                "message": f"{exc}; one payment per order (retry with its idempotency key)",
            },
        ) from None
    if not created:
        response.status_code = 200
        response.headers["Idempotent-Replayed"] = "true"
    return payment


@router.get("/payments/{payment_id}", dependencies=[Depends(allow("orders", "ops"))])
async def get_payment(payment_id: str, payments: Store) -> Payment:
    return _found(payments.get(payment_id), payment_id)


@router.get("/payments", dependencies=[Depends(allow("orders", "ops"))])
async def list_payments(order_id: str, payments: Store) -> list[Payment]:
    """The payments of one order (reconciliation: there should be at most one)."""
    return payments.by_order(order_id)


@router.post("/payments/{payment_id}/refund", dependencies=[Depends(allow("orders"))])
async def refund_payment(payment_id: str, payments: Store) -> Payment:
    """Refund a payment; refunding twice is harmless. The refund event follows."""
    payment = _found(payments.refund(payment_id), payment_id)
    if payment.status == "declined":
        raise HTTPException(
            409,
            detail={"error": "not refundable", "payment_id": payment_id, "status": payment.status},
        )
    return payment
