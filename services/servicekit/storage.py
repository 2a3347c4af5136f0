"""SQLite, the embedded default store of both services (not the TLS toolkit's business).

WAL lets readers run beside the single writer; a busy timeout turns brief
write contention into a short wait instead of an error. Transactions in the
services never span an `await`, so one connection per process is enough.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

Database = sqlite3.Connection


def open_database(path: Path, schema: str) -> Database:
    """Open (creating folder, file and schema if needed) a WAL-mode database."""
    if str(path) != ":memory:":
        path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    connection.row_factory = sqlite3.Row
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute("PRAGMA busy_timeout=5000")
    connection.execute("PRAGMA foreign_keys=ON")
    connection.executescript(schema)
    return connection


class Transaction:
    """`with Transaction(db):` an IMMEDIATE transaction: take the write lock up front,
    so two writers never both read-then-write the same row (idempotency keys)."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection

    def __enter__(self) -> sqlite3.Connection:
        self.connection.execute("BEGIN IMMEDIATE")
        return self.connection

    def __exit__(self, exc_type: object, *_: object) -> None:
        self.connection.execute("ROLLBACK" if exc_type else "COMMIT")
