"""The store: the single source of truth for sites, pools and members, behind one class.

Every write is one transaction that starts by bumping the store revision
(``revision = revision + 1``): that row update is also the lock that makes concurrent writers
(API, ``gslb apply``, other nodes) wait for each other, so none loses a bump or plans against a
state another is changing. A write that turns out to change nothing rolls back, bump included;
any error rolls back everything, so a refused write leaves the store exactly as it was.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import Enum
from types import TracebackType
from typing import Any, Literal, TypeAlias, TypeVar, cast

from alembic.util import CommandError
from sqlalchemy import CursorResult, Engine, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, aliased

from gslb.errors import (
    ConflictError,
    DatabaseError,
    InvalidError,
    NotFoundError,
    PreconditionError,
    StoreError,
)
from gslb.model import AdminState, Check, CheckOverrides, HealthOverride, Inventory, Member, Pool, Site
from gslb.store import engine as engines
from gslb.store import migrate
from gslb.store.edits import (
    Edit,
    LoggedEdit,
    Outcome,
    check_edits,
    inventory_edits,
    pool_edits,
    site_edits,
)
from gslb.store.rows import (
    check_rows,
    check_value,
    fill_check,
    fill_pool,
    fill_site,
    pool_names_after,
    pool_rows,
    pool_value,
    read_inventory,
    read_pools,
    release_names,
    site_rows,
    site_value,
    update_member_fields,
)
from gslb.store.rules import (
    check_inventory,
    check_problems,
    check_use_problems,
    fallback_order,
    member_name,
    pool_problems,
    raise_problems,
    reference_problems,
    site_problems,
)
from gslb.store.tables import (
    ChangeRow,
    CheckRow,
    MemberRow,
    ObjectType,
    PoolCheckRow,
    PoolNameRow,
    PoolRow,
    PoolSiteOrderRow,
    SiteRow,
    StoreRevision,
)

_REVISION = select(StoreRevision.revision).where(StoreRevision.id == 1)
FLUSH_BATCH = 500
"""Pools written per flush by apply_inventory: one INSERT per table and batch, not per pool."""
BATCH_PREFIX = "one of "
DELTA_LIMIT = 1000
"""Objects changed since the served revision beyond which a reader loads everything again."""


T = TypeVar("T")
Precondition: TypeAlias = Callable[[T | None], None]
"""A conditional write's test: given the object as stored (None: absent) inside the write
transaction, after the revision lock and before anything is written, it raises a StoreError
(usually PreconditionError) to refuse the write. Two writers that read the same object cannot
both pass it, because the second runs its test only once the first has committed."""


class _Keep(Enum):
    KEEP = "keep"


KEEP = _Keep.KEEP
"""``patch_member``'s default for a field that may be set to None: leave it as it is."""


@dataclass(frozen=True, slots=True)
class StoreDelta:
    """The store at ``revision``, as far as the pools written since an earlier revision go."""

    revision: int
    pools: dict[str, Pool | None]  # None: the pool was deleted


@dataclass
class _Write:
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


class Store:
    """Sites, pools and members in a SQL database, read whole and written transactionally."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._reader = engine.execution_options(**engines.snapshot_options(engine))
        self._poller = engine.execution_options(**engines.single_statement_options(engine))
        self._writer = engine.execution_options(**engines.write_options(engine))
        self._watcher: sqlite3.Connection | None = None  # change_marker's connection

    @classmethod
    def open(cls, url: str) -> Store:
        """A store on ``url`` (any SQLAlchemy URL); nothing is read or created until used."""
        return cls(engines.create(url))

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()
        if self._watcher is not None:
            self._watcher.close()
            self._watcher = None

    def __enter__(self) -> Store:
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

    # Reads

    def change_marker(self) -> int | None:
        """A stand-in for the revision that costs no query through SQLAlchemy: for a SQLite file,
        its ``PRAGMA data_version``, which moves whenever another connection commits; None where
        there is none (PostgreSQL, an in-memory database): ask ``revision``.

        The answering process polls the store every 25 ms, and each revision query, sent to a
        thread to keep the event loop free, held the interpreter lock for about a millisecond: 4 %
        of the process, in bursts that reached the latency tail. This is a few microseconds on a
        connection of its own (file times were tried: two commits in one tick of the file
        system's clock left them alone)."""
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
            return connection.execute(_REVISION).scalar_one()

    def load(self) -> tuple[int, Inventory]:
        """Everything stored, normalized, with the revision it reflects: one consistent read."""
        with self._reading(), Session(self._reader) as session:
            revision = session.execute(_REVISION).scalar_one()
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
        without the rest (at 100,000 pools the whole list is 50 MB of JSON)."""
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
        # walked the whole log by its primary key, 28 ms at 100,000 entries.
        touched = (
            select(ChangeRow.object_type, ChangeRow.object_name)
            .where(ChangeRow.revision > after)
            .order_by(ChangeRow.revision, ChangeRow.id)
            .limit(limit + 1)
        )
        with self._reading(), Session(self._reader) as session:
            revision = session.execute(_REVISION).scalar_one()
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

    # Writes

    def apply_inventory(
        self, inventory: Inventory, actor: str, planned: Sequence[Edit] | None = None
    ) -> Outcome:
        """Make the store hold exactly ``inventory``, writing only what differs.

        Applying the same inventory again changes nothing and keeps the revision. ``planned``: the
        edits a plan showed (``inventory_edits`` against an earlier read); if the write would make
        any others, because the store changed since, it writes nothing (PreconditionError).
        """
        check_inventory(inventory)
        try:
            return self._apply_inventory(inventory, actor, FLUSH_BATCH, planned)
        except InvalidError as exc:
            if not exc.object_name.startswith(BATCH_PREFIX):
                raise
            # The database refused one pool of a batch: write again a pool at a time (all or
            # nothing, as before), so that the error names that pool.
            return self._apply_inventory(inventory, actor, 1, planned)

    def _apply_inventory(
        self, inventory: Inventory, actor: str, batch: int, planned: Sequence[Edit] | None
    ) -> Outcome:
        with self._writing(actor) as write:
            current_sites, current_pools = site_rows(write.session), pool_rows(write.session)
            current_checks = check_rows(write.session)
            current = Inventory(
                tuple(site_value(r) for r in current_sites.values()),
                tuple(pool_value(r) for r in current_pools.values()),
                tuple(check_value(r) for r in current_checks.values()),
            )
            write.edits = inventory_edits(current, inventory)
            if planned is not None and write.edits != list(planned):
                detail = "changed since the plan was made: plan again"
                raise PreconditionError("store", "declarations", detail)
            if write.edits:
                stored = _Stored(current_sites, current_pools, current_checks)
                _write_inventory(write, inventory.normalized(), stored, batch)
        return write.result()

    def put_site(self, site: Site, actor: str, precondition: Precondition[Site] | None = None) -> Outcome:
        """Create the site or replace all its fields."""
        raise_problems(site_problems(site))
        with self._writing(actor) as write:
            row = site_rows(write.session, site.name).get(site.name)
            _test(precondition, site_value(row) if row else None)
            write.edits = site_edits(site_value(row) if row else None, site)
            if write.edits:
                if row is None:
                    row = SiteRow()
                    write.session.add(row)
                write.about("site", site.name)
                fill_site(write.session, row, site)
                write.session.flush()
        return write.result()

    def delete_site(self, name: str, actor: str, precondition: Precondition[Site] | None = None) -> Outcome:
        """Delete a site that no member and no pool's site order uses."""
        with self._writing(actor) as write:
            row = site_rows(write.session, name).get(name)
            _test(precondition, site_value(row) if row else None)
            if row is None:
                raise NotFoundError("site", name, "no such site")
            _refuse_if_used(write.session, row)
            write.edits = site_edits(site_value(row), None)
            write.about("site", name)
            write.session.delete(row)
            write.session.flush()
        return write.result()

    def put_check(self, check: Check, actor: str, precondition: Precondition[Check] | None = None) -> Outcome:
        """Create the check or replace all its fields; the pools using it must still fit it."""
        problems = check_problems(check)
        with self._writing(actor) as write:
            session = write.session
            row = check_rows(session, check.name).get(check.name)
            _test(precondition, check_value(row) if row else None)
            if not problems:
                users = session.scalars(
                    select(PoolRow.name).join(PoolCheckRow).join(CheckRow).where(CheckRow.name == check.name)
                )
                for pool in pool_rows(session, *users).values():
                    problems.extend(check_use_problems(pool_value(pool), check))
            raise_problems(problems)
            write.edits = check_edits(check_value(row) if row else None, check)
            if write.edits:
                if row is None:
                    row = CheckRow()
                    session.add(row)
                write.about("check", check.name)
                fill_check(row, check)
                session.flush()
        return write.result()

    def delete_check(self, name: str, actor: str, precondition: Precondition[Check] | None = None) -> Outcome:
        """Delete a check that no pool uses."""
        with self._writing(actor) as write:
            row = check_rows(write.session, name).get(name)
            _test(precondition, check_value(row) if row else None)
            if row is None:
                raise NotFoundError("check", name, "no such check")
            users = write.session.scalars(
                select(PoolRow.name).join(PoolCheckRow).where(PoolCheckRow.check_id == row.id)
            )
            if names := sorted(users):
                raise ConflictError("check", name, f"is the health check of pools {_names(names)}")
            write.edits = check_edits(check_value(row), None)
            write.about("check", name)
            write.session.delete(row)
            write.session.flush()
        return write.result()

    def put_pool(self, pool: Pool, actor: str, precondition: Precondition[Pool] | None = None) -> Outcome:
        """Create the pool or replace it whole, members included."""
        with self._writing(actor) as write:
            if precondition is not None:
                precondition(_stored_pool(write, pool.name))
            _put_pool(write, pool)
        return write.result()

    def delete_pool(self, name: str, actor: str, precondition: Precondition[Pool] | None = None) -> Outcome:
        """Delete a pool and its members, unless another pool falls back to it."""
        with self._writing(actor) as write:
            row = pool_rows(write.session, name).get(name)
            _test(precondition, pool_value(row) if row else None)
            if row is None:
                raise NotFoundError("pool", name, "no such pool")
            dependants = write.session.scalars(select(PoolRow.name).where(PoolRow.fallback_id == row.id))
            if users := sorted(dependants):
                raise ConflictError("pool", name, f"is the fallback of pools {_names(users)}")
            write.edits = pool_edits(pool_value(row), None)
            write.about("pool", name)
            write.session.delete(row)
            write.session.flush()
        return write.result()

    def put_member(
        self, pool: str, member: Member, actor: str, precondition: Precondition[Member] | None = None
    ) -> Outcome:
        """Add the member to the pool, or replace the pool's member with the same address."""
        with self._writing(actor) as write:
            current = _read_pool(write, pool)
            stored = _stored_member(current, member.address)
            _test(precondition, stored)
            others = tuple(m for m in current.members if m.address != member.address)
            _put_member(write, current, replace(current, members=(*others, member)), stored, member)
        return write.result()

    def patch_member(
        self,
        pool: str,
        address: str,
        actor: str,
        *,
        weight: int | None = None,
        priority: int | None = None,
        state: AdminState | None = None,
        override: HealthOverride | Literal[_Keep.KEEP] | None = KEEP,
        check_overrides: CheckOverrides | None = None,
        precondition: Precondition[Member] | None = None,
    ) -> Outcome:
        """Change some fields of one member (drain it, re-weigh it, force it down), leaving the
        others. ``override=None`` clears the override; ``check_overrides=CheckOverrides()`` clears
        the member's check parameters."""
        with self._writing(actor) as write:
            current = _read_pool(write, pool)
            _test(precondition, _stored_member(current, address))
            member = _current_member(current, address)
            patched = replace(
                member,
                weight=member.weight if weight is None else weight,
                priority=member.priority if priority is None else priority,
                state=member.state if state is None else state,
                override=member.override if override is KEEP else override,
                check_overrides=member.check_overrides if check_overrides is None else check_overrides,
            )
            members = tuple(patched if m.address == address else m for m in current.members)
            _put_member(write, current, replace(current, members=members), member, patched)
        return write.result()

    def delete_member(
        self, pool: str, address: str, actor: str, precondition: Precondition[Member] | None = None
    ) -> Outcome:
        """Remove one member from its pool."""
        with self._writing(actor) as write:
            row, current = _current_pool(write, pool)
            _test(precondition, _stored_member(current, address))
            _current_member(current, address)
            members = tuple(m for m in current.members if m.address != address)
            _put_pool(write, replace(current, members=members), row)
        return write.result()

    # Transactions

    @contextmanager
    def _reading(self) -> Iterator[None]:
        try:
            yield
        except SQLAlchemyError as exc:
            raise DatabaseError(f"cannot read the store at {self.url}: {_reason(exc)}") from exc

    @contextmanager
    def _writing(self, actor: str) -> Iterator[_Write]:
        """One write transaction: bump and lock the revision, write, log the edits, commit.

        The bump is the first statement so the lock is taken before anything is read: on
        PostgreSQL it is a row lock, on SQLite the database write lock, and the reads that plan
        the write see every write committed before it.
        """
        now = datetime.now(UTC)
        with Session(self._writer, autoflush=False) as session:
            write = _Write(session)
            try:
                bumped = session.execute(
                    update(StoreRevision)
                    .where(StoreRevision.id == 1)
                    .values(revision=StoreRevision.revision + 1, updated_at=now)
                )
                if cast(CursorResult[Any], bumped).rowcount != 1:
                    raise DatabaseError(f"the store at {self.url} has no revision row: run gslb db upgrade")
                revision = session.execute(_REVISION).scalar_one()
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


def open_store(url: str) -> Store:
    """What ``gslb serve`` calls on start: open the store, creating and migrating it as needed."""
    store = Store.open(url)
    try:
        store.upgrade()
    except BaseException:
        store.dispose()
        raise
    return store


@dataclass(frozen=True, slots=True)
class _Stored:
    """The rows an inventory write starts from, by name; the write adds the rows it creates."""

    sites: dict[str, SiteRow]
    pools: dict[str, PoolRow]
    checks: dict[str, CheckRow]


def _write_inventory(write: _Write, inventory: Inventory, stored: _Stored, batch_size: int) -> None:
    """Write a validated inventory in an order every constraint accepts at every step.

    Sites and checks first (pools refer to them), then pools in fallback order, then deletions:
    pools before the pools they fall back to, and checks and sites last, once nothing uses them.
    """
    session = write.session
    sites, pools, checks = stored.sites, stored.pools, stored.checks
    for site in inventory.sites:
        site_row = sites.get(site.name)
        if site_row is None or site_value(site_row) != site:
            if site_row is None:
                site_row = sites[site.name] = SiteRow()
                session.add(site_row)
            write.about("site", site.name)
            fill_site(session, site_row, site)
            session.flush()
    for check in inventory.checks:
        check_row = checks.get(check.name)
        if check_row is None or check_value(check_row) != check:
            if check_row is None:
                check_row = checks[check.name] = CheckRow()
                session.add(check_row)
            write.about("check", check.name)
            fill_check(check_row, check)
            session.flush()
    wanted = {p.name: p for p in inventory.pools}
    for name, existing in pools.items():
        # An owner name can move between pools: the pool losing it lets go first.
        write.about("pool", name)
        release_names(existing, set(wanted[name].names) if name in wanted else set())
        session.flush()
    batch: list[str] = []
    for name in fallback_order({p.name: p.fallback for p in inventory.pools}):
        pool, pool_row = wanted[name], pools.get(name)
        if pool_row is None or pool_value(pool_row) != pool:
            if pool_row is None:
                pool_row = pools[name] = PoolRow()
                session.add(pool_row)
            fallback = pools[pool.fallback] if pool.fallback else None
            fill_pool(session, pool_row, pool, sites, fallback, checks)
            batch.append(name)
            if len(batch) >= batch_size:
                _flush_pools(write, batch)
    _flush_pools(write, batch)
    leaving = {n: (r.fallback.name if r.fallback else None) for n, r in pools.items() if n not in wanted}
    for name in reversed(fallback_order(leaving)):
        write.about("pool", name)
        session.delete(pools[name])
        session.flush()
    for name in checks.keys() - {c.name for c in inventory.checks}:
        write.about("check", name)
        session.delete(checks[name])
        session.flush()
    kept = {s.name for s in inventory.sites}
    for name in sites.keys() - kept:
        write.about("site", name)
        session.delete(sites[name])
        session.flush()


def _flush_pools(write: _Write, batch: list[str]) -> None:
    """Send the pools written so far in one flush: the ORM batches their INSERTs."""
    if batch:
        write.about("pool", batch[0] if len(batch) == 1 else f"{BATCH_PREFIX}{batch[0]}..{batch[-1]}")
        write.session.flush()
        batch.clear()


def _put_pool(write: _Write, pool: Pool, stored: PoolRow | _Keep | None = KEEP) -> None:
    """Validate ``pool`` against what is stored, then write whatever differs. ``stored``: the
    pool's row as this transaction read it already (None: there is none), else read here."""
    session = write.session
    problems = pool_problems(pool)
    referenced = {m.site for m in pool.members} | set(pool.site_order)
    sites = site_rows(session, *referenced) if referenced else {}
    fallbacks: dict[str, str | None] = {}
    if pool.fallback is not None:
        # Every pool's link, for the loop check: only a pool that falls back can close a loop,
        # and reading 100,000 links for each member write would cost more than the write.
        target = aliased(PoolRow)
        links = select(PoolRow.name, target.name).outerjoin(target, PoolRow.fallback_id == target.id)
        fallbacks = dict(session.execute(links).all())
    checks = check_rows(session, pool.health_check) if pool.health_check is not None else {}
    problems.extend(
        reference_problems(pool, sites, fallbacks, {n: check_value(r) for n, r in checks.items()})
    )
    raise_problems(problems)
    owners = session.execute(
        select(PoolNameRow.name, PoolRow.name)
        .join(PoolRow, PoolNameRow.pool_id == PoolRow.id)
        .where(PoolNameRow.name.in_(pool.names), PoolRow.name != pool.name)
    ).all()
    if owners:
        taken = ", ".join(f"{owner} (pool {other!r})" for owner, other in sorted(owners))
        raise ConflictError("pool", pool.name, f"names already taken: {taken}", "names")
    row = pool_rows(session, pool.name).get(pool.name) if isinstance(stored, _Keep) else stored
    write.edits = pool_edits(pool_value(row) if row else None, pool)
    if not write.edits:
        return
    if row is None:
        row = PoolRow()
        session.add(row)
    fallback = None
    if pool.fallback is not None:
        fallback = session.scalars(select(PoolRow).where(PoolRow.name == pool.fallback)).one()
    write.about("pool", pool.name)
    fill_pool(session, row, pool, sites, fallback, checks)
    session.flush()


def _test(precondition: Precondition[T] | None, current: T | None) -> None:
    if precondition is not None:
        precondition(current)


def _stored_pool(write: _Write, name: str) -> Pool | None:
    row = pool_rows(write.session, name).get(name)
    return pool_value(row) if row is not None else None


def _put_member(write: _Write, current: Pool, pool: Pool, stored: Member | None, member: Member) -> None:
    """Write ``pool``, which is ``current`` with ``member`` put in place of ``stored``.

    Draining, enabling, re-weighing a member (the writes automation sends most) change only its
    row's weight, priority and state: nothing another object refers to, so only the pool's own
    rules can refuse them, and one UPDATE writes them. Through the ORM the same write loaded the
    pool's object graph and flushed it: 4-5 ms holding the interpreter lock in the answering
    process, where the UDP thread waits for it (bench/write_stalls.py). Anything else takes
    ``_put_pool``.
    """
    if (
        stored is None
        or stored.site != member.site
        or stored.override != member.override
        or stored.check_overrides != member.check_overrides
    ):
        _put_pool(write, pool)
        return
    raise_problems(pool_problems(pool))
    write.edits = pool_edits(current, pool)
    if write.edits:
        write.about("pool", pool.name)
        update_member_fields(write.session, pool.name, stored, member)


def _read_pool(write: _Write, name: str) -> Pool:
    """The pool as stored, read in the write's transaction without ORM objects."""
    found = read_pools(write.session, {name})
    if not found:
        raise NotFoundError("pool", name, "no such pool")
    return found[0]


def _stored_member(pool: Pool, address: str) -> Member | None:
    return next((m for m in pool.members if m.address == address), None)


def _current_pool(write: _Write, name: str) -> tuple[PoolRow, Pool]:
    row = pool_rows(write.session, name).get(name)
    if row is None:
        raise NotFoundError("pool", name, "no such pool")
    return row, pool_value(row)


def _current_member(pool: Pool, address: str) -> Member:
    member = _stored_member(pool, address)
    if member is None:
        raise NotFoundError("member", member_name(pool.name, address), "no such member")
    return member


def _refuse_if_used(session: Session, site: SiteRow) -> None:
    members = session.scalars(
        select(PoolRow.name)
        .join(MemberRow, MemberRow.pool_id == PoolRow.id)
        .where(MemberRow.site_id == site.id)
    )
    if users := sorted(set(members)):
        raise ConflictError("site", site.name, f"still has members in pools {_names(users)}")
    ordering = session.scalars(
        select(PoolRow.name)
        .join(PoolSiteOrderRow, PoolSiteOrderRow.pool_id == PoolRow.id)
        .where(PoolSiteOrderRow.site_id == site.id)
    )
    if users := sorted(set(ordering)):
        raise ConflictError("site", site.name, f"is in the site_order of pools {_names(users)}")


def _names(names: list[str]) -> str:
    return ", ".join(repr(n) for n in names)


def _reason(exc: SQLAlchemyError) -> str:
    """The database's own message, first line only (SQLAlchemy appends SQL and a link)."""
    original = exc.orig if isinstance(exc, DBAPIError) else exc
    return str(original).strip().splitlines()[0] if str(original).strip() else type(original).__name__
