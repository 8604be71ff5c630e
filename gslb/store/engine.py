"""Engines for any SQLAlchemy URL, with the few per-database settings the store relies on.

The store needs three things from every database: foreign keys enforced, a transaction that
really starts at BEGIN (so that every read of ``load()`` sees one state), and writers that wait
for each other instead of failing at once. PostgreSQL does all three by itself; SQLite needs to
be asked. Those per-database choices are made here, and nowhere else but the migration lock
(gslb/store/migrate.py); the tables and queries are portable SQL.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from gslb.errors import DatabaseError

DEFAULT_URL = "sqlite:///gslb.sqlite"  # a file in the working directory
SQLITE_BUSY_TIMEOUT_MS = 10_000  # how long a writer waits for another one to commit
_SQLITE_BEGIN = "gslb_sqlite_begin"  # execution option: DEFERRED (reads) or IMMEDIATE (writes)


def parse_url(url: str) -> URL:
    try:
        return make_url(url)
    except ArgumentError as exc:
        raise DatabaseError(f"db: {url!r} is not a database URL") from exc


def display_url(url: str | URL) -> str:
    """The URL without its password, for logs and messages."""
    parsed = parse_url(url) if isinstance(url, str) else url
    return parsed.render_as_string(hide_password=True)


def create(url: str) -> Engine:
    """An engine for ``url``; a SQLite file's directory is created if it is missing."""
    parsed = parse_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed)
    try:
        return create_engine(parsed, pool_pre_ping=True)
    except ImportError as exc:
        hint = " (pip install 'gslb[postgres]')" if parsed.get_backend_name() == "postgresql" else ""
        raise DatabaseError(f"db: no driver for {display_url(parsed)}: {exc}{hint}") from exc
    except ArgumentError as exc:
        raise DatabaseError(f"db: cannot use {display_url(parsed)}: {exc}") from exc


def snapshot_options(engine: Engine) -> dict[str, Any]:
    """Execution options for a read-only transaction that sees one state from start to end.

    PostgreSQL's default (READ COMMITTED) takes a new snapshot for every statement; REPEATABLE
    READ keeps one for the transaction and never fails a transaction that only reads. A SQLite
    transaction holds its snapshot once it has read, so it needs nothing.
    """
    return {} if engine.dialect.name == "sqlite" else {"isolation_level": "REPEATABLE READ"}


def write_options(engine: Engine) -> dict[str, Any]:
    """Execution options for a write transaction.

    SQLite: BEGIN IMMEDIATE takes the write lock at once (waiting up to the busy timeout), so a
    writer never holds a read snapshot that another writer's commit makes stale. PostgreSQL
    needs nothing: the store's first statement in a write locks the revision row.
    """
    return {_SQLITE_BEGIN: "IMMEDIATE"} if engine.dialect.name == "sqlite" else {}


def single_statement_options(engine: Engine) -> dict[str, Any]:
    """Execution options for one read that needs no transaction (polling the revision).

    Autocommit saves PostgreSQL the BEGIN and ROLLBACK round trips; on SQLite both are local.
    """
    return {} if engine.dialect.name == "sqlite" else {"isolation_level": "AUTOCOMMIT"}


def _sqlite_engine(url: URL) -> Engine:
    database = url.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url)

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        # Python's sqlite3 module would otherwise start transactions only before writes, so
        # two reads of one "transaction" could see different states; we issue BEGIN ourselves.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        # WAL: readers (the DNS workers polling the revision) never block the writer, nor it them.
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        mode = connection.get_execution_options().get(_SQLITE_BEGIN, "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")

    return engine
