"""The orders service's own settings (`ORDERS_*`); TLS is in `MTLS_*`."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class OrdersSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ORDERS_", extra="ignore")

    host: str = Field("127.0.0.1", description="Address to listen on.")
    port: int = Field(8443, description="Port to listen on (mTLS).")
    db_path: Path = Field(Path(".data/orders.db"), description="SQLite database file.")
    payments_url: str = Field(
        "https://localhost:9443", description="Base URL of payments (hostname verified)."
    )
    payment_retry_interval: float = Field(
        5.0,
        gt=0,
        description="Seconds between automatic retries of orders whose payment is pending.",
    )
