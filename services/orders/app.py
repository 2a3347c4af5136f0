"""Wiring of the orders service: store, client to payments, payment retry loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from mtls import PeerClient, TLSContexts
from mtls.app import secure_app, service_app
from mtls.storage import open_database

from orders.charging import retry_pending
from orders.routes import router
from orders.settings import OrdersSettings
from orders.store import SCHEMA, OrderStore


def create_app(contexts: TLSContexts, settings: OrdersSettings | None = None) -> FastAPI:
    settings = settings or OrdersSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = open_database(settings.db_path, SCHEMA)
        app.state.store = OrderStore(db)
        app.state.payments = PeerClient("payments", settings.payments_url, contexts)
        retries = asyncio.create_task(
            retry_pending(app.state.store, app.state.payments, settings.payment_retry_interval)
        )
        try:
            yield
        finally:
            retries.cancel()
            await app.state.payments.aclose()
            db.close()

    app = service_app(
        "orders",
        "Takes storefront orders and has payments charge them; callers use mTLS.",
        lifespan,
    )
    app.include_router(router)
    return secure_app(app, contexts)
