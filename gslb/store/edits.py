"""Edits: what one write changes, object by object, as values the change log and callers share.

Computed purely from the old and new domain values (both normalized), so that a dry run, the
write itself and its change-log rows describe exactly the same changes, and "nothing differs"
is decided in one place: that is what makes ``apply_inventory`` idempotent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from enum import Enum
from typing import Any

from gslb.model import Check, CheckOverrides, Inventory, IPAddress, IPNetwork, Member, Pool, Site
from gslb.store.rules import fallback_order, member_name
from gslb.store.tables import Action, ObjectType

JsonObject = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Edit:
    """One object created, updated or deleted.

    ``detail`` is JSON: the object's fields for a create or delete, and
    ``{field: {"old": ..., "new": ...}}`` for the fields an update changed.
    """

    action: Action
    object_type: ObjectType
    object_name: str
    detail: JsonObject

    def __str__(self) -> str:
        return f"{self.action.value} {self.object_type.value} {self.object_name}"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a write did: the store revision after it, and its edits (none: nothing changed)."""

    revision: int
    edits: tuple[Edit, ...]

    @property
    def changed(self) -> bool:
        return bool(self.edits)


@dataclass(frozen=True, slots=True)
class LoggedEdit:
    """One row of the change log: an edit, who made it, when, and the revision it produced.

    ``at`` is when the write began (in UTC); ``id`` is the log's order.
    """

    id: int
    revision: int
    at: datetime
    actor: str
    edit: Edit


def inventory_edits(old: Inventory, new: Inventory) -> list[Edit]:
    """Sites and checks created or updated, then pools (each followed by its members), then
    deletions: pools, checks, sites."""
    old, new = old.normalized(), new.normalized()
    old_checks = {c.name: c for c in old.checks}
    new_checks = {c.name: c for c in new.checks}
    old_sites = {s.name: s for s in old.sites}
    old_pools = {p.name: p for p in old.pools}
    new_pools = {p.name: p for p in new.pools}
    new_sites = {s.name: s for s in new.sites}
    edits: list[Edit] = []
    for site in new.sites:
        edits.extend(site_edits(old_sites.get(site.name), site))
    for check in new.checks:
        edits.extend(check_edits(old_checks.get(check.name), check))
    # In the order they are written: a pool after the pool it falls back to, and deleted before it.
    for name in fallback_order({p.name: p.fallback for p in new.pools}):
        edits.extend(pool_edits(old_pools.get(name), new_pools[name]))
    leaving = {p.name: p.fallback for p in old.pools if p.name not in new_pools}
    for name in reversed(fallback_order(leaving)):
        edits.extend(pool_edits(old_pools[name], None))
    for check in old.checks:
        if check.name not in new_checks:
            edits.extend(check_edits(check, None))
    for site in old.sites:
        if site.name not in new_sites:
            edits.extend(site_edits(site, None))
    return edits


def site_edits(old: Site | None, new: Site | None) -> list[Edit]:
    return _object_edits(ObjectType.SITE, old, new, exclude=("name",))


def check_edits(old: Check | None, new: Check | None) -> list[Edit]:
    return _object_edits(ObjectType.CHECK, old, new, exclude=("name",))


def pool_edits(old: Pool | None, new: Pool | None) -> list[Edit]:
    """The pool's own edit (if its fields differ) and one edit per member that differs."""
    old, new = _normalized(old), _normalized(new)
    subject = new if new is not None else old
    if subject is None:
        return []
    edits = _object_edits(ObjectType.POOL, old, new, exclude=("name", "members"))
    before = {m.address: m for m in old.members} if old is not None else {}
    after = {m.address: m for m in new.members} if new is not None else {}
    member_edits: list[Edit] = []
    for address in sorted(before.keys() | after.keys()):
        member_edits.extend(
            _object_edits(
                ObjectType.MEMBER,
                before.get(address),
                after.get(address),
                exclude=(),
                name=member_name(subject.name, address),
            )
        )
    # A pool's members go before the pool when it is deleted, after it otherwise.
    return member_edits + edits if new is None else edits + member_edits


def _normalized(pool: Pool | None) -> Pool | None:
    return None if pool is None else Inventory(pools=(pool,)).normalized().pools[0]


def _object_edits(
    object_type: ObjectType,
    old: Site | Pool | Member | Check | None,
    new: Site | Pool | Member | Check | None,
    exclude: tuple[str, ...],
    name: str | None = None,
) -> list[Edit]:
    if old is None:
        if new is None:
            return []
        return [Edit(Action.CREATE, object_type, name or _name(new), _fields(new, exclude))]
    if new is None:
        return [Edit(Action.DELETE, object_type, name or _name(old), _fields(old, exclude))]
    name = name or _name(new)
    before, after = _fields(old, exclude), _fields(new, exclude)
    keys = [*after, *(k for k in before if k not in after)]
    changed = {
        k: {"old": before.get(k, _UNSET.get(k)), "new": after.get(k, _UNSET.get(k))}
        for k in keys
        if before.get(k) != after.get(k)
    }
    return [Edit(Action.UPDATE, object_type, name, changed)] if changed else []


def _name(value: Site | Pool | Member | Check) -> str:
    return value.address if isinstance(value, Member) else value.name


# Health fields, left out of a detail while unset: objects that do not use them are logged as
# before they existed.
_UNSET: dict[str, Any] = {"check_overrides": {}, "override": None}


def _fields(value: Site | Pool | Member | Check, exclude: tuple[str, ...]) -> dict[str, Any]:
    # Fields left out of comparisons (a member's drained_at) are the store's, not a change.
    values = {
        f.name: _json(getattr(value, f.name)) for f in fields(value) if f.compare and f.name not in exclude
    }
    return {k: v for k, v in values.items() if k not in _UNSET or v != _UNSET[k]}


def _json(value: object) -> Any:
    if isinstance(value, tuple):
        return [_json(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, IPAddress | IPNetwork):
        return str(value)
    if isinstance(value, CheckOverrides):  # only what is overridden: {} for none
        return {f.name: getattr(value, f.name) for f in fields(value) if getattr(value, f.name) is not None}
    return value
