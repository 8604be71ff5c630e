"""The store's reads: everything at once with its revision, one object or one page of them, and
what changed since a revision (the change log, and the pools it names, read whole).

Each read is one transaction on a consistent snapshot of the database; readers that poll use the
change marker and the revision, which cost next to nothing, before anything larger.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from gslb.model import Check, Inventory, Pool, Site
from gslb.store.edits import Edit, LoggedEdit
from gslb.store.rows import (
    check_rows,
    check_value,
    pool_names_after,
    read_inventory,
    read_pools,
    site_rows,
    site_value,
)
from gslb.store.tables import ChangeRow, ObjectType
from gslb.store.transactions import REVISION, Transactions

DELTA_LIMIT = 1000
"""Objects changed since the served revision beyond which a reader loads everything again."""


@dataclass(frozen=True, slots=True)
class StoreDelta:
    """The store at ``revision``, as far as the pools written since an earlier revision go."""

    revision: int
    pools: dict[str, Pool | None]  # None: the pool was deleted


class Reads(Transactions):
    """What ``Store`` reads."""

    def change_marker(self) -> int | None:
        """A stand-in for the revision that costs no query through SQLAlchemy: for a SQLite file,
        its ``PRAGMA data_version``, which moves whenever another connection commits; for
        PostgreSQL, the count of change notifications (gslb/store/listen.py); None where there is
        none (an in-memory database, a listener that lost its connection): ask ``revision``.

        Readers poll often, and a revision query, sent to a thread to keep the event loop free,
        holds the interpreter lock the answering process needs; this asks SQLite itself, on a
        connection of its own. (File times cannot stand in: two commits in one tick of the file
        system's clock leave them alone.) The measurements are in bench/README.md."""
        listener = self.listener()
        if listener is not None:
            return listener.marker()
        database = self.engine.url.database if self.engine.dialect.name == "sqlite" else None
        if not database or database == ":memory:":
            return None
        try:
            if self._watcher is None:
                self._watcher = sqlite3.connect(database, check_same_thread=False)
            return int(self._watcher.execute("PRAGMA data_version").fetchone()[0])
        except sqlite3.Error:
            return None  # ask the database the long way, which reports what is wrong

    def revision(self) -> int:
        """The store revision: one indexed row, cheap enough to poll every few milliseconds."""
        with self._reading(), self._poller.connect() as connection:
            return connection.execute(REVISION).scalar_one()

    def load(self) -> tuple[int, Inventory]:
        """Everything stored, normalized, with the revision it reflects: one consistent read."""
        with self._reading(), Session(self._reader) as session:
            revision = session.execute(REVISION).scalar_one()
            return revision, read_inventory(session)

    def sites(self) -> tuple[Site, ...]:
        """Every site, by name."""
        with self._reading(), Session(self._reader) as session:
            return tuple(site_value(r) for _, r in sorted(site_rows(session).items()))

    def site(self, name: str) -> Site | None:
        with self._reading(), Session(self._reader) as session:
            row = site_rows(session, name).get(name)
            return site_value(row) if row is not None else None

    def checks(self) -> tuple[Check, ...]:
        """Every check, by name."""
        with self._reading(), Session(self._reader) as session:
            return tuple(check_value(r) for _, r in sorted(check_rows(session).items()))

    def check(self, name: str) -> Check | None:
        with self._reading(), Session(self._reader) as session:
            row = check_rows(session, name).get(name)
            return check_value(row) if row is not None else None

    def pools_after(self, after: str, limit: int) -> tuple[Pool, ...]:
        """Up to ``limit`` pools named after ``after``, by name: one page of a listing, read
        without the rest (a large store's whole list is far too big for one response)."""
        with self._reading(), Session(self._reader) as session:
            names = pool_names_after(session, after, limit)
            return tuple(sorted(read_pools(session, names), key=lambda p: p.name))

    def pool(self, name: str) -> Pool | None:
        """One pool with its members, normalized like ``load``'s."""
        with self._reading(), Session(self._reader) as session:
            return next(iter(read_pools(session, [name])), None)

    def delta(self, after: int, limit: int = DELTA_LIMIT) -> StoreDelta | None:
        """The pools written since revision ``after``, read whole, with the revision they reflect.

        One consistent read, like ``load``, but of the changed pools only: what an incremental
        snapshot update needs. None when anything but a pool or member changed (sites shape every
        topology pool, checks what the monitor probes) or more than ``limit`` objects did: then
        reading everything is the plainer and the cheaper way.
        """
        # Ordered by revision first (ids grow with revisions, so the order is the same) so that
        # the revision index serves both the range and the order: ordered by id alone, SQLite
        # walked the whole log by its primary key (bench/README.md).
        touched = (
            select(ChangeRow.object_type, ChangeRow.object_name)
            .where(ChangeRow.revision > after)
            .order_by(ChangeRow.revision, ChangeRow.id)
            .limit(limit + 1)
        )
        with self._reading(), Session(self._reader) as session:
            revision = session.execute(REVISION).scalar_one()
            rows = session.execute(touched).all()
            if len(rows) > limit or revision < after:
                return None
            names: set[str] = set()
            for object_type, object_name in rows:
                if object_type not in (ObjectType.POOL, ObjectType.MEMBER):
                    return None
                names.add(object_name.partition("/")[0])  # a member is logged as "pool/address"
            found = read_pools(session, names) if names else ()
            pools = Inventory(pools=found).normalized().pools
            changed: dict[str, Pool | None] = dict.fromkeys(names)
            changed.update((pool.name, pool) for pool in pools)
            return StoreDelta(revision, changed)

    def changes(self, after: int = 0, limit: int = 100) -> list[LoggedEdit]:
        """The change log from the entry after id ``after``, oldest first, ``limit`` at most."""
        query = select(ChangeRow).where(ChangeRow.id > after).order_by(ChangeRow.id).limit(limit)
        with self._reading(), Session(self.engine) as session:
            return [
                LoggedEdit(
                    row.id,
                    row.revision,
                    row.changed_at,
                    row.actor,
                    Edit(row.action, row.object_type, row.object_name, row.detail),
                )
                for row in session.scalars(query)
            ]
