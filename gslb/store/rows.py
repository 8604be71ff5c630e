"""Rows to domain values and back: the only code that knows both gslb.model and the tables.

Reading builds ``Site``/``Pool`` values in the canonical order of ``Inventory.normalized()``, so a
stored inventory compares equal to the normalized one that was applied. Writing changes a row
only where its value differs, so an unchanged object costs no UPDATE.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Collection, Mapping, Sequence
from operator import attrgetter
from typing import Any

from sqlalchemy import Row, select, true, update
from sqlalchemy.orm import Session, joinedload, selectinload

from gslb.model import OVERRIDABLE, AdminState, Check, CheckOverrides, Inventory, Member, Pool, Site
from gslb.store.tables import (
    CheckRow,
    MemberHealthRow,
    MemberRow,
    PoolCheckRow,
    PoolNameRow,
    PoolRow,
    PoolSiteOrderRow,
    SiteRow,
    SiteSubnetRow,
    SiteVipRow,
)


def site_rows(session: Session, *names: str) -> dict[str, SiteRow]:
    """Sites with their lists loaded: those named, or every one when no name is given."""
    query = select(SiteRow).options(selectinload(SiteRow.subnets), selectinload(SiteRow.vips))
    if names:
        query = query.where(SiteRow.name.in_(names))
    return {row.name: row for row in session.scalars(query)}


def check_rows(session: Session, *names: str) -> dict[str, CheckRow]:
    """Checks: those named, or every one when no name is given."""
    query = select(CheckRow)
    if names:
        query = query.where(CheckRow.name.in_(names))
    return {row.name: row for row in session.scalars(query)}


def pool_rows(session: Session, *names: str) -> dict[str, PoolRow]:
    """Pools with names, site order, members, fallback and check loaded: those named, or all."""
    query = select(PoolRow).options(
        selectinload(PoolRow.names),
        selectinload(PoolRow.site_order).joinedload(PoolSiteOrderRow.site),
        selectinload(PoolRow.members).options(joinedload(MemberRow.site), selectinload(MemberRow.health)),
        selectinload(PoolRow.fallback),
        selectinload(PoolRow.check).joinedload(PoolCheckRow.check),
    )
    if names:
        query = query.where(PoolRow.name.in_(names))
    return {row.name: row for row in session.scalars(query)}


def read_inventory(session: Session) -> Inventory:
    """Everything stored, in ``Inventory.normalized``'s order: ``read_pools`` already sorts each
    pool's names and members, so only the pools themselves are put in order here (normalizing
    would copy every pool to sort what is sorted)."""
    sites = sorted((site_value(row) for row in site_rows(session).values()), key=lambda s: s.name)
    checks = sorted((check_value(row) for row in check_rows(session).values()), key=lambda c: c.name)
    pools = sorted(read_pools(session), key=lambda p: p.name)
    return Inventory(sites=tuple(sites), pools=tuple(pools), checks=tuple(checks))


def pool_names_after(session: Session, after: str, limit: int) -> list[str]:
    """Up to ``limit`` pool names that sort after ``after``, in order: a page of a listing, keyed
    by the last name of the page before, so that pools written meanwhile neither shift nor repeat
    one. The order is code points', Python's, whatever the database's collation (PostgreSQL's
    locales ignore ``-`` and ``_``, which would order ``a-c`` after ``ab``)."""
    name: Any = PoolRow.name
    if session.get_bind().dialect.name == "postgresql":
        name = name.collate("C")
    return list(session.scalars(select(PoolRow.name).where(name > after).order_by(name).limit(limit)))


def read_pools(session: Session, names: Collection[str] | None = None) -> tuple[Pool, ...]:
    """Every pool (or those in ``names``), as ``pool_value`` makes it of its ORM row, from plain
    rows: one SELECT per table and no ORM objects, several times faster than the ORM both for all
    of them (a server reads them all at every start and after every change that is not to pools or
    members alone) and for the few pools of an incremental update (bench/README.md)."""
    sites = dict(session.execute(select(SiteRow.id, SiteRow.name)).all())
    checks = dict(session.execute(select(CheckRow.id, CheckRow.name)).all())
    pool_query = select(PoolRow.__table__)
    if names is not None:
        pool_query = pool_query.where(PoolRow.name.in_(sorted(names)))
    pool_table = session.execute(pool_query).all()
    ids = [row.id for row in pool_table]

    def of_pools(column: Any) -> Any:
        return column.in_(ids) if names is not None else true()

    fallback_ids = {row.fallback_id for row in pool_table if row.fallback_id is not None}
    pool_names = dict(
        session.execute(select(PoolRow.id, PoolRow.name).where(PoolRow.id.in_(fallback_ids))).all()
    )
    owner_names: dict[int, list[str]] = {}
    owners = select(PoolNameRow.pool_id, PoolNameRow.name).where(of_pools(PoolNameRow.pool_id))
    for pool_id, name in session.execute(owners):
        owner_names.setdefault(pool_id, []).append(name)
    order: dict[int, list[tuple[int, str]]] = {}
    ordered = select(PoolSiteOrderRow.pool_id, PoolSiteOrderRow.position, PoolSiteOrderRow.site_id).where(
        of_pools(PoolSiteOrderRow.pool_id)
    )
    for pool_id, position, site_id in session.execute(ordered):
        order.setdefault(pool_id, []).append((position, sites[site_id]))
    pool_checks = {
        row.pool_id: row
        for row in session.execute(select(PoolCheckRow.__table__).where(of_pools(PoolCheckRow.pool_id)))
    }
    member_query = select(
        MemberRow.id,
        MemberRow.pool_id,
        MemberRow.site_id,
        MemberRow.address,
        MemberRow.weight,
        MemberRow.priority,
        MemberRow.state,
        MemberRow.drained_at,
    ).where(of_pools(MemberRow.pool_id))
    member_table = session.execute(member_query).all()
    health_query = select(MemberHealthRow.__table__)
    if names is not None:
        health_query = health_query.where(MemberHealthRow.member_id.in_([row[0] for row in member_table]))
    health = {row.member_id: row for row in session.execute(health_query)}
    no_overrides = CheckOverrides()
    members: dict[int, list[Member]] = {}
    # Tuples unpacked by position: a Row's attributes are looked up by name, once per member and column.
    for member_id, pool_id, site_id, address, weight, priority, state, drained_at in member_table:
        extra = health.get(member_id)
        members.setdefault(pool_id, []).append(
            Member(
                sites[site_id],
                address,
                weight,
                priority,
                state,
                check_overrides=_overrides_value(extra) if extra is not None else no_overrides,
                override=extra.override if extra is not None else None,
                drained_at=drained_at,
            )
        )
    pools = []
    by_address = attrgetter("address")
    for row in pool_table:
        pool_id = row.id
        check = pool_checks.get(pool_id)
        fallback_id = row.fallback_id
        pools.append(
            Pool(
                name=row.name,
                names=tuple(sorted(owner_names.get(pool_id, ()))),
                kind=row.kind,
                policy=row.policy,
                answer_count=row.answer_count,
                ttl=row.ttl,
                all_down=row.all_down,
                fallback=pool_names[fallback_id] if fallback_id is not None else None,
                health_check=checks[check.check_id] if check is not None else None,
                check_overrides=_overrides_value(check) if check is not None else no_overrides,
                site_order=tuple(site for _, site in sorted(order.get(pool_id, ()))),
                members=tuple(sorted(members.get(pool_id, ()), key=by_address)),
            )
        )
    return tuple(pools)


def site_value(row: SiteRow) -> Site:
    return Site(
        name=row.name,
        region=row.region,
        description=row.description,
        subnets=tuple(ipaddress.ip_network(s.network) for s in row.subnets),
        lvs_mode=row.lvs_mode,
        vips=tuple(ipaddress.ip_address(v.address) for v in row.vips),
    )


def check_value(row: CheckRow) -> Check:
    return Check(
        name=row.name,
        type=row.type,
        port=row.port,
        method=row.method,
        path=row.path,
        host=row.host,
        expect=tuple((low, high) for low, high in row.expect),
        body=row.body,
        sni=row.sni,
        verify_tls=row.verify_tls,
        interval=row.interval,
        timeout=row.timeout,
        rise=row.rise,
        fall=row.fall,
        jitter=row.jitter,
    )


def _overrides_value(row: PoolCheckRow | MemberHealthRow | Row[Any] | None) -> CheckOverrides:
    if row is None:
        return CheckOverrides()
    return CheckOverrides(row.port, row.interval, row.timeout, row.rise, row.fall)


def member_value(row: MemberRow) -> Member:
    return Member(
        row.site.name,
        row.address,
        row.weight,
        row.priority,
        row.state,
        check_overrides=_overrides_value(row.health),
        override=row.health.override if row.health is not None else None,
        drained_at=row.drained_at,
    )


def pool_value(row: PoolRow) -> Pool:
    return Pool(
        name=row.name,
        names=tuple(sorted(n.name for n in row.names)),
        kind=row.kind,
        policy=row.policy,
        answer_count=row.answer_count,
        ttl=row.ttl,
        all_down=row.all_down,
        fallback=row.fallback.name if row.fallback is not None else None,
        health_check=row.check.check.name if row.check is not None else None,
        check_overrides=_overrides_value(row.check),
        site_order=tuple(entry.site.name for entry in row.site_order),
        members=tuple(sorted((member_value(m) for m in row.members), key=lambda m: m.address)),
    )


def _assign(row: Any, **values: Any) -> None:
    """Set only the attributes that differ, so the flush writes only what changed."""
    for name, value in values.items():
        if getattr(row, name) != value:
            setattr(row, name, value)


def fill_site(session: Session, row: SiteRow, site: Site) -> None:
    _assign(row, name=site.name, region=site.region, description=site.description, lvs_mode=site.lvs_mode)
    subnets = [str(n) for n in site.subnets]
    if [s.network for s in row.subnets] != subnets:
        _replace(session, row.subnets, [SiteSubnetRow(position=i, network=n) for i, n in enumerate(subnets)])
    vips = [str(a) for a in site.vips]
    if [v.address for v in row.vips] != vips:
        _replace(session, row.vips, [SiteVipRow(position=i, address=a) for i, a in enumerate(vips)])


def fill_check(row: CheckRow, check: Check) -> None:
    _assign(
        row,
        name=check.name,
        type=check.type,
        port=check.port,
        method=check.method,
        path=check.path,
        host=check.host,
        expect=[list(r) for r in check.expect],
        body=check.body,
        sni=check.sni,
        verify_tls=check.verify_tls,
        interval=check.interval,
        timeout=check.timeout,
        rise=check.rise,
        fall=check.fall,
        jitter=check.jitter,
    )


def fill_pool(
    session: Session,
    row: PoolRow,
    pool: Pool,
    sites: Mapping[str, SiteRow],
    fallback: PoolRow | None,
    checks: Mapping[str, CheckRow],
) -> None:
    """Make ``row`` hold ``pool``; ``sites`` must hold every site it names, ``fallback`` its row,
    ``checks`` its check.

    Owner names that move between pools must first be released by the pool losing them
    (``release_names``), since a name belongs to one pool at every moment.
    """
    _assign(
        row,
        name=pool.name,
        kind=pool.kind,
        policy=pool.policy,
        answer_count=pool.answer_count,
        ttl=pool.ttl,
        all_down=pool.all_down,
    )
    if row.fallback is not fallback:
        row.fallback = fallback
    if pool.health_check is None:
        row.check = None
    else:
        if row.check is None:
            row.check = PoolCheckRow()
        if row.check.check is not checks[pool.health_check]:
            row.check.check = checks[pool.health_check]
        _assign_overrides(row.check, pool.check_overrides)
    release_names(row, set(pool.names))
    held = {n.name for n in row.names}
    row.names.extend(PoolNameRow(name=n) for n in pool.names if n not in held)
    if [entry.site.name for entry in row.site_order] != list(pool.site_order):
        _replace(
            session,
            row.site_order,
            [PoolSiteOrderRow(position=i, site=sites[name]) for i, name in enumerate(pool.site_order)],
        )
    _fill_members(row, pool.members, sites)


def release_names(row: PoolRow, keep: set[str]) -> None:
    for name_row in [n for n in row.names if n.name not in keep]:
        row.names.remove(name_row)


def _fill_members(row: PoolRow, members: Sequence[Member], sites: Mapping[str, SiteRow]) -> None:
    wanted = {m.address: m for m in members}
    for member_row in [m for m in row.members if m.address not in wanted]:
        row.members.remove(member_row)
    existing = {m.address: m for m in row.members}
    for address, member in wanted.items():
        if address in existing:
            member_row = existing[address]
        else:
            member_row = MemberRow(address=address)
            row.members.append(member_row)
        if member_row.site is not sites[member.site]:
            member_row.site = sites[member.site]
        _assign(
            member_row,
            weight=member.weight,
            priority=member.priority,
            state=member.state,
            drained_at=drained_since(member.state, member_row.state, member_row.drained_at),
        )
        if member.override is None and member.check_overrides.empty:
            member_row.health = None
        else:
            if member_row.health is None:
                member_row.health = MemberHealthRow()
            _assign(member_row.health, override=member.override)
            _assign_overrides(member_row.health, member.check_overrides)


def drained_since(
    state: AdminState, stored_state: AdminState | None, stored_since: float | None
) -> float | None:
    """When a member now in ``state`` began draining, given the state the store held (None: a new
    member). Caches may hold a member only if it was answered: draining counts from the write that
    took an enabled member out, and stays where it was while the member stays drained."""
    if state is not AdminState.DRAINED:
        return None
    if stored_state is AdminState.DRAINED:
        return stored_since
    return time.time() if stored_state is AdminState.ENABLED else None


def update_member_fields(session: Session, pool: str, stored: Member, member: Member) -> None:
    """Write ``member``'s weight, priority and state over ``stored``, its row in ``pool``: one UPDATE
    and no ORM objects, for a write that changes nothing else of the member (see
    ``Store.put_member``)."""
    pool_id = select(PoolRow.id).where(PoolRow.name == pool).scalar_subquery()
    session.execute(
        update(MemberRow)
        .where(MemberRow.pool_id == pool_id, MemberRow.address == member.address)
        .values(
            weight=member.weight,
            priority=member.priority,
            state=member.state,
            drained_at=drained_since(member.state, stored.state, stored.drained_at),
        )
        .execution_options(synchronize_session=False)
    )


def _assign_overrides(row: PoolCheckRow | MemberHealthRow, overrides: CheckOverrides) -> None:
    _assign(row, **{name: getattr(overrides, name) for name in OVERRIDABLE})


def _replace(session: Session, rows: list[Any], new: list[Any]) -> None:
    """Replace an ordered child list: delete the old rows first, then insert the new ones.

    Updating positions in place could briefly hold one site twice in an order, which a
    per-row unique check (PostgreSQL's) refuses even though the final state is valid.
    """
    rows.clear()
    session.flush()
    rows.extend(new)
