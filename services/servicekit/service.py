"""The skeleton of a service: its app, its lifespan and its typed state.

A service says what it opens at start-up (a store, a peer client, a background
loop) on a `Resources`; each is closed in reverse order at shutdown, also when
start-up fails half-way, so no service writes its own try/finally. Its state is
one typed object (`app.state.service`), read by `state_of`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from fastapi import APIRouter, FastAPI, Request
from mtls import PeerClient, TLSContexts, secure_app, service_app
from pydantic import Field
from sqlalchemy.engine import URL

from servicekit.answers import Conflict, conflict_response, unavailable_response
from servicekit.database import (
    Database,
    DatabaseUnavailable,
    database_url,
    open_database,
    prepare_database,
)
from servicekit.migrations import Migrations

StateT = TypeVar("StateT")


class Resources:
    """What a service opened at start-up, closed again (last first) at shutdown."""

    def __init__(self, stack: AsyncExitStack, contexts: TLSContexts) -> None:
        self._stack, self._contexts = stack, contexts

    def database(self, url: URL) -> Database:
        """The service's database (migrated before it listened), closed at shutdown."""
        db = open_database(url, lambda: self._contexts.client)
        self._stack.push_async_callback(db.close)
        return db

    def peer(self, name: str, url: str) -> PeerClient:
        """A pooled mTLS client for the peer `name` (its SPIFFE name), closed at shutdown."""
        client = PeerClient(name, url, self._contexts)
        self._stack.push_async_callback(client.aclose)
        return client

    def background(self, loop: Coroutine[Any, Any, None]) -> None:
        """Run a loop (retries, an outbox) for the service's lifetime; cancelled at shutdown."""
        task = asyncio.create_task(loop)

        async def cancel() -> None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

        self._stack.push_async_callback(cancel)


Start = Callable[[FastAPI, Resources], Awaitable[None]]


def create_service(
    name: str, summary: str, contexts: TLSContexts, router: APIRouter, start: Start
) -> FastAPI:
    """The service's FastAPI app over the toolkit: its routes, its lifespan, the 409 and
    503 handlers."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            await start(app, Resources(stack, contexts))
            yield

    app = service_app(name, summary, lifespan)
    app.include_router(router)
    app.add_exception_handler(Conflict, conflict_response)
    app.add_exception_handler(DatabaseUnavailable, unavailable_response)
    return secure_app(app, contexts)


def state_of(request: Request, kind: type[StateT]) -> StateT:
    """The service's typed state (`app.state.service`), for its route dependencies."""
    state = request.app.state.service
    if not isinstance(state, kind):
        raise TypeError(f"app.state.service is {type(state).__name__}, not {kind.__name__}")
    return state


def database_field(service: str) -> Any:
    """The `db_path` setting of a service: `<SERVICE>_DB_PATH`, default .data/<service>.db."""
    return Field(
        Path(f".data/{service}.db"),
        description="SQLite database file (the embedded default, when database_url is empty).",
    )


def database_url_field(service: str) -> Any:
    """The `database_url` setting: PostgreSQL, logging in with the service's certificate."""
    return Field(
        "",
        description=f"PostgreSQL instead of SQLite: postgresql://{service}@host:5432/{service}, "
        "no password (the role is the certificate's CN; TLS and hostname checks as MTLS_*).",
    )


def migrated_database(
    service: str, url: str, path: Path, contexts: TLSContexts, migrations: Path
) -> URL:
    """Before the service listens: its database URL, with the schema at this code's head.

    Raises (one line, the process stops with it) when the database cannot be reached or
    its schema is newer than this code.
    """
    target = database_url(url, path)
    prepare_database(target, Migrations(service, migrations), lambda: contexts.client)
    return target


def peer_url_field(peer: str, port: int, purpose: str) -> Any:
    """The base URL setting of a peer: https://localhost:<its port> for `make run`."""
    return Field(f"https://localhost:{port}", description=f"Base URL of {peer} ({purpose}).")
