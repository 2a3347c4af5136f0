"""The services' database: SQLAlchemy 2 async Core, on SQLite or PostgreSQL, one code path.

SQLite (aiosqlite) is the embedded default of `make run` and the fast tests;
PostgreSQL (asyncpg) is what replicas share. No query blocks the event loop:
aiosqlite runs SQLite in its own thread, asyncpg is asyncio itself.

Writes are transactions (`async with db.transaction() as tx:`). On SQLite each
one starts with BEGIN IMMEDIATE, taking the write lock up front, so two
writers never both read-then-write one row; on PostgreSQL a unique constraint
settles the same race, and the loser's IntegrityError is read as "someone
else made it" (`created_elsewhere`), on either database.

Durability: a payment answered 201 is committed. PostgreSQL commits with
synchronous_commit=on (its default, asserted at start-up); SQLite runs WAL with
synchronous=FULL, which syncs the log at each commit (NORMAL, SQLite's usual
WAL choice, can lose the last commits on power loss, though not on a crash of
the process).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from servicekit.migrations import Migrations

SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",  # readers beside the one writer
    "PRAGMA synchronous=FULL",  # a commit is on disk before the answer
    "PRAGMA busy_timeout=5000",  # brief write contention waits instead of failing
    "PRAGMA foreign_keys=ON",
)


class DatabaseError(ValueError):
    """The database cannot be used as configured; the message says what to fix."""


def database_url(url: str, path: Path) -> URL:
    """The SQLAlchemy URL: `url` (postgresql://role@host:port/db) if set, else SQLite at `path`."""
    if not url:
        if str(path) != ":memory:":
            path.parent.mkdir(parents=True, exist_ok=True)
        return URL.create("sqlite+pysqlite", database=str(path))
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise DatabaseError(f"{url!r}: only postgresql:// URLs (or a SQLite path) are supported")
    if parsed.password:
        raise DatabaseError(
            "the database URL carries a password: remove it; the service logs in with its "
            "certificate (pg_hba.conf `hostssl ... cert`)"
        )
    return parsed.set(drivername="postgresql+asyncpg")


TLSProvider = Callable[[], ssl.SSLContext]
T = TypeVar("T")
P = ParamSpec("P")
Work = Callable[Concatenate[Connection, P], T]
_Waiting = tuple[Callable[[Connection], Any], bool, "asyncio.Future[Any]"]


def _sqlite_engine(url: URL) -> Engine:
    # One connection, used by one thread: SQLite has one writer anyway.
    engine = create_engine(url, pool_size=1, max_overflow=0, pool_timeout=30)

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.isolation_level = None  # we say BEGIN ourselves (below)
        cursor = dbapi_connection.cursor()
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        read_only = connection.get_execution_options().get("read_only", False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


def _postgresql_engine(url: URL, tls: TLSProvider) -> AsyncEngine:
    engine = create_async_engine(url, pool_pre_ping=True)

    @event.listens_for(engine.sync_engine, "do_connect")
    def _with_current_tls(dialect: Any, record: Any, cargs: Any, cparams: dict[str, Any]) -> None:
        # The toolkit's client context as it is now: a reloaded certificate reaches the
        # next connection. It verifies the server's chain and its hostname (verify-full).
        cparams["ssl"] = tls()

    return engine


class _GroupCommit:
    """SQLite's writer: the transactions waiting together run and commit together.

    One thread runs every batch: one BEGIN, each transaction of a batch of several in
    its own SAVEPOINT (a failing one rolls back alone, its caller gets the exception),
    one COMMIT, so one fsync and one hop to the thread per batch, not per transaction.
    A batch of reads only begins DEFERRED, and its COMMIT writes nothing. A caller is
    answered only after the COMMIT that holds its writes.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.thread = ThreadPoolExecutor(1, thread_name_prefix="sqlite")
        self._waiting: list[_Waiting] = []
        self._drainer: asyncio.Task[None] | None = None
        self._connection: Connection | None = None

    async def run(self, work: Callable[[Connection], T], read_only: bool) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._waiting.append((work, read_only, future))
        if self._drainer is None:
            self._drainer = loop.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._waiting:
                batch, self._waiting = self._waiting, []
                try:
                    outcomes = await loop.run_in_executor(self.thread, self._batch, batch)
                except Exception as exc:  # BEGIN or COMMIT failed: nothing of it was written
                    outcomes = [(False, exc)] * len(batch)
                for (_, _, future), (ok, value) in zip(batch, outcomes, strict=True):
                    if future.done():
                        continue
                    if ok:
                        future.set_result(value)
                    else:
                        future.set_exception(value)
        finally:
            self._drainer = None

    def _batch(self, batch: list[_Waiting]) -> list[tuple[bool, Any]]:
        if self._connection is None:  # the thread's own, for the database's lifetime
            self._connection = self.engine.connect()
        connection = self._connection
        connection.execution_options(read_only=all(read_only for _, read_only, _ in batch))
        if len(batch) == 1:
            work = batch[0][0]
            try:
                with connection.begin():
                    return [(True, work(connection))]
            except Exception as exc:  # rolled back: nothing of it was written
                return [(False, exc)]
        outcomes: list[tuple[bool, Any]] = []
        with connection.begin():
            for work, _, _ in batch:
                connection.exec_driver_sql("SAVEPOINT one")
                try:
                    value = work(connection)
                except Exception as exc:
                    connection.exec_driver_sql("ROLLBACK TO one")
                    outcomes.append((False, exc))
                else:
                    outcomes.append((True, value))
                connection.exec_driver_sql("RELEASE one")
        return outcomes

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
        self.engine.dispose()


class Database:
    """Transactions of plain SQLAlchemy Core code, run off the event loop.

    A store writes each transaction as one function of a `Connection`; the same
    function runs on both databases. On PostgreSQL it runs in asyncpg's own
    asynchronous I/O (`run_sync`: each statement awaits the server). On SQLite
    it runs in the database's own thread, batched with the transactions waiting
    beside it (`_GroupCommit`): a hop to a thread and an fsync cost a lot more
    than the statements of a transaction.
    """

    def __init__(self, engine: Engine | AsyncEngine) -> None:
        self.engine = engine
        self._sqlite = _GroupCommit(engine) if isinstance(engine, Engine) else None

    async def write(self, work: Work[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`work(connection, ...)` in one transaction: committed when it returns."""
        return await self._run(False, work, *args, **kwargs)

    async def read(self, work: Work[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`work(connection, ...)` that only reads."""
        return await self._run(True, work, *args, **kwargs)

    async def _run(self, read_only: bool, work: Work[P, T], *args: Any, **kwargs: Any) -> T:
        if self._sqlite is not None:
            return await self._sqlite.run(lambda c: work(c, *args, **kwargs), read_only)
        assert isinstance(self.engine, AsyncEngine)
        async with self.engine.begin() as connection:
            return await connection.run_sync(work, *args, **kwargs)

    async def close(self) -> None:
        if self._sqlite is None:
            assert isinstance(self.engine, AsyncEngine)
            await self.engine.dispose()
            return
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._sqlite.thread, self._sqlite.close)
        self._sqlite.thread.shutdown()


def created_elsewhere(exc: IntegrityError) -> bool:
    """A unique constraint lost a race to a concurrent insert (not another integrity error)."""
    text = str(exc.orig).lower()
    return "unique" in text or "duplicate key" in text


def prepare_database(url: URL, migrations: Migrations, tls: TLSProvider) -> None:
    """Before the service listens: migrate to this code's head, or raise (one line) why not."""

    async def upgrade() -> None:
        database = open_database(url, tls)
        try:
            await database.write(migrations.upgrade)
        except (OSError, SQLAlchemyError) as exc:
            raise DatabaseError(f"{_where(url)}: {_cause(exc)}") from None
        finally:
            await database.close()

    asyncio.run(upgrade())


def _where(url: URL) -> str:
    if url.get_backend_name() == "sqlite":
        return f"SQLite {url.database}"
    return f"PostgreSQL {url.username}@{url.host}:{url.port or 5432}/{url.database}"


def _cause(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    return f"{type(orig).__name__}: {str(orig).splitlines()[0] if str(orig) else ''}"


def open_database(url: URL, tls: TLSProvider) -> Database:
    """The service's database, migrated by `prepare_database` before it started listening."""
    if url.get_backend_name() == "sqlite":
        return Database(_sqlite_engine(url))
    return Database(_postgresql_engine(url, tls))
