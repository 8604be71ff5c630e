"""Writing a whole inventory (``gslb apply``): one transaction that makes the store hold exactly
the declared inventory, writing only what differs, in an order every constraint accepts at every
step, and in batches of pools so that the database sees a few large statements, not many small ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gslb.errors import InvalidError, PreconditionError
from gslb.model import Inventory
from gslb.store.edits import Edit, Outcome, inventory_edits
from gslb.store.rows import (
    check_rows,
    check_value,
    fill_check,
    fill_pool,
    fill_site,
    pool_rows,
    pool_value,
    release_names,
    site_rows,
    site_value,
)
from gslb.store.rules import check_inventory, fallback_order
from gslb.store.tables import CheckRow, PoolRow, SiteRow
from gslb.store.transactions import Transactions, Write

FLUSH_BATCH = 500
"""Pools written per flush by apply_inventory: one INSERT per table and batch, not per pool."""
BATCH_PREFIX = "one of "


class InventoryWrites(Transactions):
    """``Store``'s write of a whole inventory."""

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


@dataclass(frozen=True, slots=True)
class _Stored:
    """The rows an inventory write starts from, by name; the write adds the rows it creates."""

    sites: dict[str, SiteRow]
    pools: dict[str, PoolRow]
    checks: dict[str, CheckRow]


def _write_inventory(write: Write, inventory: Inventory, stored: _Stored, batch_size: int) -> None:
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


def _flush_pools(write: Write, batch: list[str]) -> None:
    """Send the pools written so far in one flush: the ORM batches their INSERTs."""
    if batch:
        write.about("pool", batch[0] if len(batch) == 1 else f"{BATCH_PREFIX}{batch[0]}..{batch[-1]}")
        write.session.flush()
        batch.clear()
