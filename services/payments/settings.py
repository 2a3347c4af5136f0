"""The payments service's own settings (`PAYMENTS_*`); TLS is in `MTLS_*`."""

from __future__ import annotations

from pathlib import Path

from mtls import ServiceSettings
from pydantic import Field
from pydantic_settings import SettingsConfigDict
from servicekit.service import database_field, database_url_field, peer_url_field


class PaymentsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PAYMENTS_", extra="ignore")

    port: int = Field(9443, description="Port to listen on (mTLS).")
    db_path: Path = database_field("payments")
    database_url: str = database_url_field("payments")
    orders_url: str = peer_url_field("orders", 8443, "for payment events")
    decline_above_minor: int = Field(
        100_000, ge=0, description="Payments above this many minor units are declined."
    )
    settle_delay: float = Field(
        1.0, ge=0, description="Seconds after authorization before a payment settles."
    )
    outbox_interval: float = Field(
        0.5, gt=0, description="Seconds between passes of the event outbox."
    )
    outbox_max_backoff: float = Field(
        30.0, gt=0, description="Longest wait between two delivery attempts of an event."
    )
