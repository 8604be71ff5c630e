"""The store's writes of one site, check, pool or member (what the admin API sends): each one
transaction (``Transactions._writing``) that tests its precondition, validates against what is
stored, writes only what differs and logs it as edits. A whole inventory is ``inventory.py``'s.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TypeAlias, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from gslb.errors import ConflictError, NotFoundError
from gslb.model import Check, Member, Pool, Site
from gslb.store.edits import Outcome, check_edits, pool_edits, site_edits
from gslb.store.rows import (
    check_rows,
    check_value,
    fill_check,
    fill_pool,
    fill_site,
    pool_rows,
    pool_value,
    read_pools,
    site_rows,
    site_value,
    update_member_fields,
)
from gslb.store.rules import (
    check_problems,
    check_use_problems,
    member_name,
    pool_problems,
    raise_problems,
    reference_problems,
    site_problems,
)
from gslb.store.tables import (
    CheckRow,
    MemberRow,
    PoolCheckRow,
    PoolNameRow,
    PoolRow,
    PoolSiteOrderRow,
    SiteRow,
)
from gslb.store.transactions import Transactions, Write

T = TypeVar("T")
Precondition: TypeAlias = Callable[[T | None], None]
"""A conditional write's test: given the object as stored (None: absent) inside the write
transaction, after the revision lock and before anything is written, it raises a StoreError
(usually PreconditionError) to refuse the write. Two writers that read the same object cannot
both pass it, because the second runs its test only once the first has committed."""


class Writes(Transactions):
    """What ``Store`` writes."""

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
            row = _pool_row(write, pool.name)
            _test(precondition, pool_value(row) if row else None)
            _put_pool(write, pool, row)
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


def _put_pool(write: Write, pool: Pool, row: PoolRow | None) -> None:
    """Validate ``pool`` against what is stored, then write whatever differs. ``row``: the pool's
    row as this transaction read it (``_pool_row``; None: there is none)."""
    session = write.session
    problems = pool_problems(pool)
    referenced = {m.site for m in pool.members} | set(pool.site_order)
    sites = site_rows(session, *referenced) if referenced else {}
    fallbacks: dict[str, str | None] = {}
    if pool.fallback is not None:
        # Every pool's link, for the loop check: only a pool that falls back can close a loop,
        # and reading every pool's link for each member write would cost more than the write.
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


def _pool_row(write: Write, name: str) -> PoolRow | None:
    return pool_rows(write.session, name).get(name)


def _put_member(write: Write, current: Pool, pool: Pool, stored: Member | None, member: Member) -> None:
    """Write ``pool``, which is ``current`` with ``member`` put in place of ``stored``.

    Draining, enabling, re-weighing a member (the writes automation sends most) change only its
    row's weight, priority and state: nothing another object refers to, so only the pool's own
    rules can refuse them, and one UPDATE writes them. Through the ORM the same write loaded the
    pool's object graph and flushed it, holding the interpreter lock in the answering process,
    where the UDP thread waits for it (bench/README.md). Anything else takes ``_put_pool``.
    """
    if (
        stored is None
        or stored.site != member.site
        or stored.override != member.override
        or stored.check_overrides != member.check_overrides
    ):
        _put_pool(write, pool, _pool_row(write, pool.name))
        return
    raise_problems(pool_problems(pool))
    write.edits = pool_edits(current, pool)
    if write.edits:
        write.about("pool", pool.name)
        update_member_fields(write.session, pool.name, stored, member)


def _read_pool(write: Write, name: str) -> Pool:
    """The pool as stored, read in the write's transaction without ORM objects."""
    found = read_pools(write.session, {name})
    if not found:
        raise NotFoundError("pool", name, "no such pool")
    return found[0]


def _stored_member(pool: Pool, address: str) -> Member | None:
    return next((m for m in pool.members if m.address == address), None)


def _current_pool(write: Write, name: str) -> tuple[PoolRow, Pool]:
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
