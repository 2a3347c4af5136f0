"""What orders accepts and returns."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field
from servicekit.values import Currency

OrderStatus = Literal[
    "payment_pending", "paid", "payment_declined", "settled", "refund_requested", "refunded"
]


class Item(BaseModel):
    sku: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    quantity: int = Field(ge=1, le=1000)


class OrderRequest(BaseModel):
    items: list[Item] = Field(min_length=1, max_length=100)
    amount_minor: int = Field(gt=0, le=10**12, description="Total in minor units (cents).")
    currency: Currency


class PaymentEvent(BaseModel):
    event_id: str = Field(min_length=1, max_length=64)
    type: Literal["payment.settled", "payment.refunded"]
    payment_id: str = Field(min_length=1, max_length=64)
    order_id: str = Field(min_length=1, max_length=64)
    occurred_at: str


class ReceivedEvent(BaseModel):
    event_id: str
    type: str
    payment_id: str
    received_at: str


class Order(BaseModel):
    id: str
    status: OrderStatus
    items: list[Item]
    amount_minor: int
    currency: str
    payment_id: str | None = None
    decline_reason: str | None = None
    last_payment_error: str | None = None
    created_at: str
    updated_at: str
