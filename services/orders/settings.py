"""The orders service's own settings (`ORDERS_*`); TLS is in `MTLS_*`."""

from __future__ import annotations

from pathlib import Path

from mtls import ServiceSettings
from pydantic import Field
from pydantic_settings import SettingsConfigDict
from servicekit.service import database_field, database_url_field, peer_url_field


class OrdersSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ORDERS_", extra="ignore")

    db_path: Path = database_field("orders")
    database_url: str = database_url_field("orders")
    payments_url: str = peer_url_field("payments", 9443, "hostname verified")
    payment_retry_interval: float = Field(
        5.0, gt=0, description="Seconds between automatic retries of payment_pending orders."
    )
