"""Wiring of the orders service: its store, its client to payments, the payment retry loop."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from mtls import TLSContexts
from servicekit.service import Resources, create_service, migrated_database

from orders.charging import retry_pending
from orders.routes import OrdersState, router
from orders.settings import OrdersSettings
from orders.store import OrderStore

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(contexts: TLSContexts, settings: OrdersSettings | None = None) -> FastAPI:
    settings = settings or OrdersSettings()
    database = migrated_database(
        "orders", settings.database_url, settings.db_path, contexts, MIGRATIONS
    )

    async def start(app: FastAPI, resources: Resources) -> None:
        store = OrderStore(resources.database(database))
        payments = resources.peer("payments", settings.payments_url)
        app.state.service = OrdersState(store, payments)
        resources.background(retry_pending(store, payments, settings.payment_retry_interval))

    summary = "Takes storefront orders and has payments charge them; callers use mTLS."
    return create_service("orders", summary, contexts, router, start)
