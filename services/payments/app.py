"""Wiring of the payments service: store, client to orders, background outbox."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from mtls import PeerClient, TLSContexts
from mtls.app import secure_app, service_app
from mtls.storage import open_database

from payments.outbox import Outbox
from payments.routes import router
from payments.settings import PaymentsSettings
from payments.store import SCHEMA, PaymentStore, migrate


def create_app(contexts: TLSContexts, settings: PaymentsSettings | None = None) -> FastAPI:
    settings = settings or PaymentsSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = open_database(settings.db_path, SCHEMA)
        migrate(db)
        orders = PeerClient("orders", settings.orders_url, contexts)
        app.state.store = PaymentStore(db)
        outbox = asyncio.create_task(Outbox(app.state.store, orders, settings).run())
        try:
            yield
        finally:
            outbox.cancel()
            await orders.aclose()
            db.close()

    app = service_app(
        "payments",
        "Authorizes, settles and refunds payments; callers authenticate with mTLS.",
        lifespan,
    )
    app.state.settings = settings
    app.include_router(router)
    return secure_app(app, contexts)
