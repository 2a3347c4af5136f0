"""What orders accepts and returns."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, field_validator

# Active ISO 4217 codes (2024), so a typo such as "EUO" is a 422, not a charge.
ISO_4217 = frozenset(
    """AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN
    BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD
    FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY
    KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP
    MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR
    RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT
    TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VES VND VUV WST XAF XCD XOF XPF YER ZAR ZMW
    ZWG""".split()  # noqa: SIM905
)

OrderStatus = Literal[
    "payment_pending", "paid", "payment_declined", "settled", "refund_requested", "refunded"
]


class Item(BaseModel):
    sku: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    quantity: int = Field(ge=1, le=1000)


class OrderRequest(BaseModel):
    items: list[Item] = Field(min_length=1, max_length=100)
    amount_minor: int = Field(gt=0, le=10**12, description="Total in minor units (cents).")
    currency: str = Field(description="ISO 4217 code, e.g. EUR.")

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, value: str) -> str:
        if value not in ISO_4217:
            raise ValueError(f"{value!r} is not an ISO 4217 currency code (e.g. EUR, USD)")
        return value


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
