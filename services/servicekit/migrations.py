"""A service's schema, by Alembic: its revisions in `<service>/migrations/versions/`.

The services run `upgrade` at start-up, before they listen (`prepare_database`):
a new database gets every revision, an old one the ones it lacks. A database
whose revision this code does not know was migrated by a newer version: the
service refuses to start, in one line, rather than write rows an older schema
reading would misunderstand. Replicas start together: on PostgreSQL the first
takes a transaction-scoped advisory lock and migrates, the others wait for the
lock and find the schema at head (SQLite's write transaction serializes them
already). No env.py: the revisions run in this process,
on the connection it opened, through Alembic's `EnvironmentContext`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import op
from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection


class SchemaTooNew(ValueError):
    """The database's schema revision is not one this code knows."""


@dataclass(frozen=True)
class Migrations:
    """The revisions of one service: `folder` holds `versions/`."""

    service: str
    folder: Path

    def script(self) -> ScriptDirectory:
        config = Config()
        config.set_main_option("script_location", str(self.folder))
        return ScriptDirectory.from_config(config)

    def head(self) -> str:
        return str(self.script().get_current_head())

    def current(self, connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    def upgrade(self, connection: Connection) -> None:
        """Bring the schema to head (in the caller's transaction); SchemaTooNew if it is
        ahead of this code."""
        script = self.script()
        self._wait_for_other_replicas(connection)
        known = {revision.revision for revision in script.walk_revisions()}
        current = MigrationContext.configure(connection).get_current_heads()
        unknown = [revision for revision in current if revision not in known]
        if unknown:
            raise SchemaTooNew(
                f"the {self.service} database is at schema revision {', '.join(unknown)}, "
                f"newer than this code (head {script.get_current_head()}): run the newer "
                "version, or restore the database it had"
            )

        def steps(revision: Any, context: Any) -> Any:
            return script._upgrade_revs("head", revision)  # what `alembic upgrade head` runs

        config = Config()
        with EnvironmentContext(config, script, fn=steps) as environment:
            environment.configure(connection=connection, transactional_ddl=True)
            environment.run_migrations()

    def _wait_for_other_replicas(self, connection: Connection) -> None:
        """PostgreSQL: hold the migration lock until this transaction ends (two replicas
        migrating at once collide on the tables they both create)."""
        if connection.dialect.name == "postgresql":
            key = int.from_bytes(hashlib.sha256(f"migrate {self.service}".encode()).digest()[:8])
            lock = text("SELECT pg_advisory_xact_lock(:key)")
            connection.execute(lock, {"key": key - 2**63})  # a signed bigint


def missing_tables(*names: str) -> set[str]:
    """Inside a revision: which of these tables the database lacks."""
    inspector = inspect(op.get_bind())
    return {name for name in names if not inspector.has_table(name)}


def missing_columns(table: str, *names: str) -> set[str]:
    """Inside a revision: which of these columns `table` lacks."""
    present = {column["name"] for column in inspect(op.get_bind()).get_columns(table)}
    return set(names) - present
