"""The database: SQLite in WAL mode under the data directory by default, PostgreSQL by URL for larger sites.

Startup applies pending Alembic migrations; a database written by a newer citywall (a revision this code does
not know) is refused with a clear message instead of being half-understood.

A PostgreSQL server may restart under a running service (an upgrade, a failover, a crash). The pool checks a
connection before handing it out (``pool_pre_ping``), so the first request after the restart gets a fresh one
instead of the dead socket, and ``unavailable`` tells the callers which errors mean "the database is not there
right now" (the API answers those 503 and the case loop keeps what it could not write) from real faults.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import CursorResult, Delete, Engine, create_engine, event
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from settings.packaged import packaged

MIGRATIONS = packaged("wall", "migrations")


class Base(DeclarativeBase):
    """Every table of citywall (accounts, audit, cases, outbox) derives from this."""


def deleted(session: Session, statement: Delete) -> int:
    """Run a bulk DELETE (the session's loaded objects left as they are) and return how many rows it removed.
    ``Session.execute`` is typed as returning a plain ``Result``; a DML statement's is a ``CursorResult``."""
    result = session.execute(statement.execution_options(synchronize_session=False))
    assert isinstance(result, CursorResult)
    return result.rowcount


class DatabaseError(Exception):
    """The database cannot be used by this version of citywall."""


def unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` says the database cannot be reached now (refused, restarting, a connection cut) rather
    than that a statement is wrong: those are worth an answer of "try again" and a retry, not a crash."""
    if isinstance(exc, (OperationalError, InterfaceError)):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def database_url(data_dir: Path, url: str | None = None) -> str:
    if url:
        return url
    data_dir.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{data_dir / 'citywall.sqlite3'}"


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer; a crash loses no commit
    cursor.execute("PRAGMA synchronous=FULL")  # a case committed is on disk before anyone is told
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        postgres = url.startswith("postgresql")
        self.engine: Engine = create_engine(url, future=True, pool_pre_ping=True,
                                            connect_args={"connect_timeout": 5} if postgres else {})
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def shown_url(self) -> str:
        """The URL for messages: a PostgreSQL password never reaches a log line or a terminal."""
        return self.engine.url.render_as_string(hide_password=True)

    def alembic_config(self) -> Config:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        return config

    def migrate(self) -> None:
        """Bring the schema to this code's head; refuse a database from a newer citywall."""
        config = self.alembic_config()
        script = ScriptDirectory.from_config(config)
        with self.engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_heads()
        known = {rev.revision for rev in script.walk_revisions()}
        unknown = [rev for rev in current if rev not in known]
        if unknown:
            raise DatabaseError(
                f"{self.shown_url}: the database is at revision {', '.join(unknown)}, which this citywall does not "
                "know (it was written by a newer version). Upgrade citywall, or restore a backup made for this "
                "version."
            )
        with self.engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "head")

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: committed when the block ends, rolled back on any error."""
        with self._sessions() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()


def open_database(data_dir: Path, url: str | None = None) -> Database:
    db = Database(database_url(data_dir, url))
    db.migrate()
    return db
