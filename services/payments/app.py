"""Wiring of the payments service: its store, its client to orders, the event outbox."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from mtls import TLSContexts
from servicekit.service import Resources, create_service, migrated_database

from payments.outbox import Outbox
from payments.routes import PaymentsState, router
from payments.settings import PaymentsSettings
from payments.store import PaymentStore

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(contexts: TLSContexts, settings: PaymentsSettings | None = None) -> FastAPI:
    settings = settings or PaymentsSettings()
    database = migrated_database(
        "payments", settings.database_url, settings.db_path, contexts, MIGRATIONS
    )

    async def start(app: FastAPI, resources: Resources) -> None:
        store = PaymentStore(resources.database(database))
        app.state.service = PaymentsState(store, settings)
        orders = resources.peer("orders", settings.orders_url)
        resources.background(Outbox(store, orders, settings).run())

    summary = "Authorizes, settles and refunds payments; callers authenticate with mTLS."
    return create_service("payments", summary, contexts, router, start)
