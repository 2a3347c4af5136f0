"""What payments accepts and returns."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field
from servicekit.values import Currency

PaymentStatus = Literal["authorized", "declined", "settled", "refunded"]


class PaymentRequest(BaseModel):
    # The id goes back into a URL path (the payment events): no '/', '.', '?', '%' or spaces.
    order_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    amount_minor: int = Field(gt=0, le=10**12, description="Amount in minor units (cents).")
    currency: Currency


class Payment(BaseModel):
    id: str
    order_id: str
    amount_minor: int
    currency: str
    status: PaymentStatus
    decline_reason: str | None = None
    created_at: str
    updated_at: str
