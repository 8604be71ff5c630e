"""The store's connections and transactions: what every read and write of ``Store`` runs inside.

A read is one consistent snapshot of the database (``_reading``). A write (``_writing``) starts
by bumping the store revision, which is also the lock that orders concurrent writers, and ends by
appending its edits to the change log; it rolls back whole when it changed nothing or failed, and
names the object the database refused.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self, cast

from alembic.util import CommandError
from sqlalchemy import CursorResult, Engine, func, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from gslb.errors import DatabaseError, InvalidError, StoreError
from gslb.store import engine as engines
from gslb.store import migrate
from gslb.store.edits import Edit, Outcome
from gslb.store.listen import ChangeListener, channel_of
from gslb.store.tables import ChangeRow, StoreRevision

REVISION = select(StoreRevision.revision).where(StoreRevision.id == 1)
"""The store revision's query: one indexed row."""


@dataclass
class Write:
    """One write transaction in progress: its session, its edits, and what it is writing now."""

    session: Session
    edits: list[Edit] = field(default_factory=list)
    writing: tuple[str, str] = ("store", "")  # object type and name, to name constraint failures
    outcome: Outcome | None = None

    def about(self, object_type: str, object_name: str) -> None:
        """Name the object the next statements write, for the error if the database refuses them."""
        self.writing = (object_type, object_name)

    def result(self) -> Outcome:
        if self.outcome is None:
            raise RuntimeError("the write has not finished")
        return self.outcome


class Transactions:
    """A store's engine, its connections for each kind of use, and its read and write transactions."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._reader = engine.execution_options(**engines.snapshot_options(engine))
        self._poller = engine.execution_options(**engines.single_statement_options(engine))
        self._writer = engine.execution_options(**engines.write_options(engine))
        self._watcher: sqlite3.Connection | None = None  # change_marker's connection (SQLite)
        self._listener: ChangeListener | None = None  # change_marker's notifications (PostgreSQL)
        self._channel: str | None = None  # where this store's writes notify (PostgreSQL)

    @classmethod
    def open(cls, url: str) -> Self:
        """A store on ``url`` (any SQLAlchemy URL); nothing is read or created until used."""
        return cls(engines.create(url))

    def dispose(self) -> None:
        """Close every pooled connection."""
        if self._listener is not None:
            self._listener.stop()
            self._listener = None
        self.engine.dispose()
        if self._watcher is not None:
            self._watcher.close()
            self._watcher = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.dispose()

    @property
    def url(self) -> str:
        return engines.display_url(self.engine.url)

    def upgrade(self) -> str | None:
        """Create or migrate the schema to the newest revision; return that migration revision."""
        try:
            return migrate.upgrade(self.engine)
        except SQLAlchemyError as exc:
            raise DatabaseError(f"cannot upgrade the database at {self.url}: {_reason(exc)}") from exc
        except CommandError as exc:  # e.g. a schema revision from a newer gslb
            raise DatabaseError(f"cannot upgrade the database at {self.url}: {exc}") from exc

    @contextmanager
    def _reading(self) -> Iterator[None]:
        try:
            yield
        except SQLAlchemyError as exc:
            raise DatabaseError(f"cannot read the store at {self.url}: {_reason(exc)}") from exc

    @contextmanager
    def _writing(self, actor: str) -> Iterator[Write]:
        """One write transaction: bump and lock the revision, write, log the edits, commit.

        The bump is the first statement so the lock is taken before anything is read: on
        PostgreSQL it is a row lock, on SQLite the database write lock, and the reads that plan
        the write see every write committed before it.
        """
        now = datetime.now(UTC)
        with Session(self._writer, autoflush=False) as session:
            write = Write(session)
            try:
                bumped = session.execute(
                    update(StoreRevision)
                    .where(StoreRevision.id == 1)
                    .values(revision=StoreRevision.revision + 1, updated_at=now)
                )
                if cast(CursorResult[Any], bumped).rowcount != 1:
                    raise DatabaseError(f"the store at {self.url} has no revision row: run gslb db upgrade")
                revision = session.execute(REVISION).scalar_one()
                yield write
                if not write.edits:
                    session.rollback()
                    write.outcome = Outcome(revision - 1, ())
                    return
                session.add_all(
                    ChangeRow(
                        revision=revision,
                        changed_at=now,
                        actor=actor,
                        action=edit.action,
                        object_type=edit.object_type,
                        object_name=edit.object_name,
                        detail=dict(edit.detail),
                    )
                    for edit in write.edits
                )
                write.about("store", "change log")
                if self.engine.dialect.name == "postgresql":
                    self._notify(session, revision)
                session.commit()
                write.outcome = Outcome(revision, tuple(write.edits))
            except StoreError:
                session.rollback()
                raise
            except IntegrityError as exc:
                session.rollback()
                object_type, object_name = write.writing
                detail = f"refused by the database: {_reason(exc)}"
                raise InvalidError(object_type, object_name, detail) from exc
            except SQLAlchemyError as exc:
                session.rollback()
                raise DatabaseError(f"cannot write to the store at {self.url}: {_reason(exc)}") from exc

    @property
    def notifies(self) -> bool:
        """Whether writes announce themselves (PostgreSQL's NOTIFY), so readers need not poll."""
        return self.engine.dialect.name == "postgresql"

    def listener(self) -> ChangeListener | None:
        """This store's notification listener (started on first use), None where writes do not
        notify."""
        if not self.notifies:
            return None
        if self._listener is None:
            self._listener = ChangeListener(self.engine.url)
            self._listener.start()
        return self._listener

    def _notify(self, session: Session, revision: int) -> None:
        """Tell every listener, at commit, that the store moved to ``revision``."""
        if self._channel is None:
            self._channel = channel_of(session.execute(text("SELECT current_schema()")).scalar_one())
        session.execute(select(func.pg_notify(self._channel, str(revision))))


def _reason(exc: SQLAlchemyError) -> str:
    """The database's own message, first line only (SQLAlchemy appends SQL and a link)."""
    original = exc.orig if isinstance(exc, DBAPIError) else exc
    return str(original).strip().splitlines()[0] if str(original).strip() else type(original).__name__
