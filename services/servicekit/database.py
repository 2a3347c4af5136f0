"""The services' database: SQLAlchemy 2 Core, on SQLite or PostgreSQL, one code path.

SQLite is the embedded default of `make run` and the fast tests; PostgreSQL
(asyncpg, logging in by certificate) is what replicas share. A store writes each
transaction as one plain function of a `Connection`, and `Database` runs it off
the event loop: on PostgreSQL in asyncpg's own asynchronous I/O, on SQLite in
the database's own thread, with the transactions waiting beside it.

Not aiosqlite: it hops to its thread for every statement (about 0.7 ms of CPU
per statement here, measured), where a hop per batch of transactions costs
less than one of them. Same thread, same promise: nothing blocks the loop.

Writes begin with BEGIN IMMEDIATE on SQLite, taking the write lock up front, so
two writers never both read-then-write one row; on PostgreSQL a unique
constraint settles the same race, and the loser's IntegrityError is read as
"someone else made it" (`created_elsewhere`), on either database.

Durability: a payment answered 201 is committed. PostgreSQL commits with
synchronous_commit=on (checked before the service listens); SQLite runs WAL
with synchronous=FULL, which syncs the log at each commit (NORMAL, SQLite's
usual WAL choice, can lose the last commits on power loss, though not on a
crash of the process). Group commit makes one fsync serve a batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import threading
from collections.abc import Callable
from pathlib import Path
from queue import SimpleQueue
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import (
    DBAPIError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from servicekit.migrations import Migrations

logger = logging.getLogger(__name__)

SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",  # readers beside the one writer
    "PRAGMA synchronous=FULL",  # a commit is on disk before the answer
    "PRAGMA busy_timeout=5000",  # brief write contention waits instead of failing
    "PRAGMA foreign_keys=ON",
)


CONNECT_TIMEOUT_SECONDS = 5


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
_Outcomes = list[tuple[bool, Any]]


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
        read_only = connection.info.get("read_only", False)  # set per batch (below)
        # Straight to the driver: SQLAlchemy's statement machinery costs more than the BEGIN.
        connection.connection.driver_connection.execute("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


def _postgresql_engine(url: URL, tls: TLSProvider) -> AsyncEngine:
    # A server that is down is refused at once; one that hangs fails in seconds, not minutes.
    connect_args = {"timeout": CONNECT_TIMEOUT_SECONDS}
    engine = create_async_engine(url, pool_pre_ping=True, connect_args=connect_args)

    @event.listens_for(engine.sync_engine, "do_connect")
    def _with_current_tls(dialect: Any, record: Any, cargs: Any, cparams: dict[str, Any]) -> None:
        # The toolkit's client context as it is now: a reloaded certificate reaches the
        # next connection. It verifies the server's chain and its hostname (verify-full).
        cparams["ssl"] = tls()

    return engine


class _GroupCommit:
    """SQLite's writer: the transactions waiting together run and commit together.

    One thread of its own runs every batch: one BEGIN, each transaction of a batch of
    several in its own SAVEPOINT (a failing one rolls back alone, its caller gets the
    exception), one COMMIT, so one fsync and one hop to the thread and back per batch,
    not per transaction. A batch of reads only begins DEFERRED, and its COMMIT writes
    nothing. A caller is answered only after the COMMIT that holds its writes.

    The hop is a plain queue and one `call_soon_threadsafe` back: waking a thread is
    most of its cost here, and an executor's futures would add more per hop.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._waiting: list[_Waiting] = []
        self._running = False
        self._batches: SimpleQueue[tuple[asyncio.AbstractEventLoop, list[_Waiting]] | None]
        self._batches = SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name="sqlite", daemon=True)
        self._thread.start()

    async def run(self, work: Callable[[Connection], T], read_only: bool) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._waiting.append((work, read_only, future))
        if not self._running:
            # At the end of this turn of the loop: what else it submits joins the batch.
            self._running = True
            loop.call_soon(self._hand_over, loop)
        return await future

    def _hand_over(self, loop: asyncio.AbstractEventLoop) -> None:
        batch, self._waiting = self._waiting, []
        self._batches.put((loop, batch))

    def _answer(
        self, loop: asyncio.AbstractEventLoop, batch: list[_Waiting], outcomes: _Outcomes
    ) -> None:
        """On the loop: answer a committed (or failed) batch, hand over the next."""
        for (_, _, future), (ok, value) in zip(batch, outcomes, strict=True):
            if future.done():
                continue
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)
        if self._waiting:
            self._hand_over(loop)
        else:
            self._running = False

    def _serve(self) -> None:
        connection = self.engine.connect()  # the thread's own, for the database's lifetime
        try:
            while (item := self._batches.get()) is not None:
                loop, batch = item
                try:
                    outcomes = self._batch(connection, batch)
                except Exception as exc:  # BEGIN or COMMIT failed: nothing of it was written
                    outcomes = [(False, exc)] * len(batch)
                with contextlib.suppress(RuntimeError):  # the loop closed: no one to answer
                    loop.call_soon_threadsafe(self._answer, loop, batch, outcomes)
        finally:
            connection.close()
            self.engine.dispose()

    @staticmethod
    def _batch(connection: Connection, batch: list[_Waiting]) -> _Outcomes:
        connection.info["read_only"] = all(read_only for _, read_only, _ in batch)
        if len(batch) == 1:
            work = batch[0][0]
            try:
                with connection.begin():
                    return [(True, work(connection))]
            except Exception as exc:  # rolled back: nothing of it was written
                return [(False, exc)]
        driver = connection.connection.driver_connection
        assert driver is not None
        outcomes: _Outcomes = []
        with connection.begin():
            for work, _, _ in batch:
                driver.execute("SAVEPOINT one")
                try:
                    value = work(connection)
                except Exception as exc:
                    driver.execute("ROLLBACK TO one")
                    outcomes.append((False, exc))
                else:
                    outcomes.append((True, value))
                driver.execute("RELEASE one")
        return outcomes

    async def close(self) -> None:
        """Wait for what was handed over, then close the connection and end the thread."""
        self._batches.put(None)
        await asyncio.get_running_loop().run_in_executor(None, self._thread.join)


class DatabaseUnavailable(Exception):
    """The database could not be reached or dropped the connection: the request is answered
    503 naming the database and the cause (nothing of its transaction was committed)."""

    def __init__(self, where: str, cause: str) -> None:
        super().__init__(f"{where} is unavailable: {cause}")
        self.where, self.cause = where, cause

    def as_dict(self) -> dict[str, str]:
        return {
            "error": "database unavailable",
            "database": self.where,
            "cause": self.cause,
            "hint": "nothing was written; retry the same request (with its Idempotency-Key)",
        }


# SQLSTATE classes of a server that is away or refusing: connection exception (08),
# operator intervention (57P01 shutdown, 57P02 crash, 57P03 starting up), resources (53).
_UNAVAILABLE_SQLSTATES = ("08", "57P", "53")


def _unavailable(exc: DBAPIError) -> bool:
    """A lost, refused or not-yet-possible connection, not a constraint or a bug."""
    if exc.connection_invalidated or isinstance(exc, OperationalError | InterfaceError):
        return True
    original = exc.orig.__cause__ if exc.orig is not None else None
    if isinstance(original, OSError | TimeoutError):
        return True
    sqlstate = getattr(exc.orig, "sqlstate", None) or getattr(original, "sqlstate", None)
    return isinstance(sqlstate, str) and sqlstate.startswith(_UNAVAILABLE_SQLSTATES)


class Database:
    """Transactions of plain SQLAlchemy Core code, run off the event loop.

    A store writes each transaction as one function of a `Connection`; the same
    function runs on both databases. On PostgreSQL it runs in asyncpg's own
    asynchronous I/O (`run_sync`: each statement awaits the server). On SQLite
    it runs in the database's own thread, batched with the transactions waiting
    beside it (`_GroupCommit`): a hop to a thread and an fsync cost a lot more
    than the statements of a transaction.

    On PostgreSQL, a reloaded certificate retires the pool: idle connections close
    at once, busy ones when their transaction ends, and new ones present the new
    certificate (as the peer client does with its HTTP pool).
    """

    def __init__(self, engine: Engine | AsyncEngine, where: str, tls: TLSProvider) -> None:
        self.engine, self.where, self._tls = engine, where, tls
        self._sqlite = _GroupCommit(engine) if isinstance(engine, Engine) else None
        self._pool_tls = tls() if self._sqlite is None else None

    async def write(self, work: Work[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`work(connection, ...)` in one transaction: committed when it returns."""
        return await self._run(False, work, *args, **kwargs)

    async def read(self, work: Work[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`work(connection, ...)` that only reads."""
        return await self._run(True, work, *args, **kwargs)

    async def _run(self, read_only: bool, work: Work[P, T], *args: Any, **kwargs: Any) -> T:
        try:
            if self._sqlite is not None:
                return await self._sqlite.run(lambda c: work(c, *args, **kwargs), read_only)
            return await self._postgresql(work, *args, **kwargs)
        except DBAPIError as exc:
            if _unavailable(exc):
                raise DatabaseUnavailable(self.where, _cause(exc)) from exc
            raise
        except (OSError, TimeoutError) as exc:
            raise DatabaseUnavailable(self.where, _cause(exc)) from exc

    async def _postgresql(self, work: Work[P, T], *args: Any, **kwargs: Any) -> T:
        assert isinstance(self.engine, AsyncEngine)
        if (current := self._tls()) is not self._pool_tls:
            self._pool_tls = current
            await self.engine.dispose()
            logger.info("database pool renewed: new TLS material", extra={"database": self.where})
        async with self.engine.begin() as connection:
            return await connection.run_sync(work, *args, **kwargs)

    async def close(self) -> None:
        if self._sqlite is None:
            assert isinstance(self.engine, AsyncEngine)
            await self.engine.dispose()
            return
        await self._sqlite.close()


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
            if url.get_backend_name() == "postgresql":
                setting = await database.read(_synchronous_commit)
                if setting == "off":  # every other value waits for the local flush at least
                    raise DatabaseError(
                        f"{_where(url)}: synchronous_commit is {setting}: a payment answered "
                        "201 could be lost in a crash; set it to on"
                    )
        except DatabaseUnavailable as exc:
            raise DatabaseError(f"{exc.where}: {exc.cause}") from None
        except (OSError, SQLAlchemyError) as exc:
            raise DatabaseError(f"{_where(url)}: {_cause(exc)}") from None
        finally:
            await database.close()

    asyncio.run(upgrade())


def _synchronous_commit(connection: Connection) -> str:
    return str(connection.exec_driver_sql("SHOW synchronous_commit").scalar())


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
        return Database(_sqlite_engine(url), _where(url), tls)
    return Database(_postgresql_engine(url, tls), _where(url), tls)
