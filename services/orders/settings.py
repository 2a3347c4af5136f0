"""The orders service's own settings (`ORDERS_*`); TLS is in `MTLS_*`."""

from __future__ import annotations

from pathlib import Path

from mtls.settings import ServiceSettings
from pydantic import Field
from pydantic_settings import SettingsConfigDict


class OrdersSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ORDERS_", extra="ignore")

    db_path: Path = Field(Path(".data/orders.db"), description="SQLite database file.")
    payments_url: str = Field(
        "https://localhost:9443", description="Base URL of payments (hostname verified)."
    )
    payment_retry_interval: float = Field(
        5.0,
        gt=0,
        description="Seconds between automatic retries of orders whose payment is pending.",
    )
