"""The payments API. Each handler states who may call it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Request, Response
from mtls import allow
from servicekit.answers import answer_create, found
from servicekit.service import state_of

from payments.models import Payment, PaymentRequest
from payments.settings import PaymentsSettings
from payments.store import PaymentStore

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


@dataclass(frozen=True)
class PaymentsState:
    """What the routes use, made at start-up (payments.app)."""

    store: PaymentStore
    settings: PaymentsSettings


async def state(request: Request) -> PaymentsState:
    """Async although it does not wait: FastAPI runs a plain `def` in a worker thread."""
    return state_of(request, PaymentsState)


State = Annotated[PaymentsState, Depends(state)]


def _found(payment: Payment | None, payment_id: str) -> Payment:
    return found(payment, "payment", payment_id)


@router.post("/payments", status_code=201, dependencies=[Depends(allow("orders"))])
async def create_payment(
    body: PaymentRequest, idempotency_key: IdempotencyKey, service: State, response: Response
) -> Payment:
    """Authorize a payment, or decline it above the configured limit; idempotent on the key,
    and at most one payment per order whatever the key (both conflicts are a 409)."""
    limit = service.settings.decline_above_minor
    payment, created = await service.store.authorize(idempotency_key, body, limit)
    answer_create(response, created)
    return payment


@router.get("/payments/{payment_id}", dependencies=[Depends(allow("orders", "ops"))])
async def get_payment(payment_id: str, service: State) -> Payment:
    return _found(await service.store.get(payment_id), payment_id)


@router.get("/payments", dependencies=[Depends(allow("orders", "ops"))])
async def list_payments(order_id: str, service: State) -> list[Payment]:
    """The payments of one order (reconciliation: there should be at most one)."""
    return await service.store.by_order(order_id)


@router.post("/payments/{payment_id}/refund", dependencies=[Depends(allow("orders"))])
async def refund_payment(payment_id: str, service: State) -> Payment:
    """Refund a payment; refunding twice is harmless. The refund event follows."""
    payment = _found(await service.store.refund(payment_id), payment_id)
    if payment.status == "declined":
        raise HTTPException(
            409,
            detail={"error": "not refundable", "payment_id": payment_id, "status": payment.status},
        )
    return payment
