"""What ``gslb apply`` will change: the store's edits, grouped per object and printed for a human.

Like octoDNS's plan, it is computed first and shown whole. Its edits are the ones the write makes
(``inventory_edits``, the store's own differ, and the store refuses the write if they are not), so
``--dry-run`` shows exactly what a real run applies, and an empty plan proves that applying twice
changes nothing. The two inventories serve only to describe each changed object in full.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Literal

from gslb.model import Check, CheckOverrides, Inventory, Member, Pool, Site
from gslb.store import Action, Edit, ObjectType
from gslb.store.edits import inventory_edits

ChangeAction = Literal["create", "update", "delete"]
Kind = Literal["site", "check", "pool"]
KINDS: tuple[Kind, ...] = ("site", "check", "pool")
_ACTIONS: dict[Action, ChangeAction] = {
    Action.CREATE: "create",
    Action.UPDATE: "update",
    Action.DELETE: "delete",
}
_KINDS: dict[ObjectType, Kind] = {ObjectType.SITE: "site", ObjectType.CHECK: "check", ObjectType.POOL: "pool"}


@dataclass(frozen=True, slots=True)
class Change:
    """One object to create, update or delete, with what differs."""

    action: ChangeAction
    kind: Kind
    name: str
    details: tuple[str, ...] = ()

    def __str__(self) -> str:
        sign = {"create": "+", "update": "~", "delete": "-"}[self.action]
        head = f"{sign} {self.kind} {self.name}"
        return "\n".join([head, *(f"    {d}" for d in self.details)])


@dataclass(frozen=True, slots=True)
class Plan:
    """The edits that turn ``current`` into ``desired`` (both normalized), in the order written."""

    edits: tuple[Edit, ...]
    current: Inventory
    desired: Inventory

    @property
    def empty(self) -> bool:
        return not self.edits

    @property
    def changes(self) -> tuple[Change, ...]:
        """The edits by object, a pool's members under it: creations and updates (sites, checks,
        pools), then deletions (pools, checks, sites), each kind by name."""
        grouped: dict[tuple[Kind, str], list[Edit]] = {}
        for edit in self.edits:
            grouped.setdefault(_object_of(edit), []).append(edit)
        changes = [self._change(kind, name, edits) for (kind, name), edits in grouped.items()]
        return tuple(sorted(changes, key=_display_order))

    def render(self) -> str:
        if self.empty:
            return "no changes: the store matches the declarations"
        changes = self.changes
        counts = {a: sum(c.action == a for c in changes) for a in ("create", "update", "delete")}
        summary = ", ".join(f"{n} to {a}" for a, n in counts.items() if n)
        return "\n".join([*(str(c) for c in changes), f"plan: {summary}"])

    def _change(self, kind: Kind, name: str, edits: list[Edit]) -> Change:
        own = next((e for e in edits if e.object_type is not ObjectType.MEMBER), None)
        # A pool whose members alone change is an update of the pool.
        action = _ACTIONS[own.action] if own is not None else "update"
        if action == "delete":
            return Change(action, kind, name)
        new = _named(self.desired, kind, name)
        if action == "create":
            return Change(action, kind, name, _describe(new))
        old = _named(self.current, kind, name)
        lines = list(_field_changes(old, new)) if own is not None else []
        if isinstance(old, Pool) and isinstance(new, Pool):
            lines.extend(_member_changes(old, new, [e for e in edits if e.object_type is ObjectType.MEMBER]))
        return Change(action, kind, name, tuple(lines))


def plan(current: Inventory, desired: Inventory) -> Plan:
    """The plan that turns ``current`` into ``desired``."""
    current, desired = current.normalized(), desired.normalized()
    return Plan(tuple(inventory_edits(current, desired)), current, desired)


def _object_of(edit: Edit) -> tuple[Kind, str]:
    """The site, check or pool an edit belongs to: a member's is its pool (``POOL/ADDRESS``)."""
    if edit.object_type is ObjectType.MEMBER:
        return "pool", edit.object_name.partition("/")[0]
    return _KINDS[edit.object_type], edit.object_name


def _display_order(change: Change) -> tuple[bool, int, str]:
    deleting = change.action == "delete"
    rank = KINDS.index(change.kind)
    return deleting, -rank if deleting else rank, change.name


def _named(inventory: Inventory, kind: Kind, name: str) -> Site | Check | Pool:
    objects: tuple[Site | Check | Pool, ...]
    if kind == "site":
        objects = inventory.sites
    elif kind == "check":
        objects = inventory.checks
    else:
        objects = inventory.pools
    return next(o for o in objects if o.name == name)


def _member_changes(old: Pool, new: Pool, edits: list[Edit]) -> list[str]:
    """One line per member edit: additions and updates first, then removals, each by address."""
    before = {m.address: m for m in old.members}
    after = {m.address: m for m in new.members}
    lines: list[tuple[bool, str]] = []
    for edit in edits:
        address = edit.object_name.partition("/")[2]
        if edit.action is Action.CREATE:
            lines.append((False, f"member + {_member(after[address])}"))
        elif edit.action is Action.UPDATE:
            lines.append((False, f"member ~ {_member(before[address])} -> {_member(after[address])}"))
        else:
            lines.append((True, f"member - {_member(before[address])}"))
    return [line for _, line in sorted(lines, key=lambda item: item[0])]


def _text(value: object) -> str:
    if isinstance(value, tuple) and value and all(isinstance(v, tuple) for v in value):
        return "[" + ", ".join(f"{low}-{high}" for low, high in value) + "]"  # expected statuses
    if isinstance(value, tuple):
        return "[" + ", ".join(str(v) for v in value) + "]"
    if isinstance(value, CheckOverrides):
        return _overrides(value)
    return str(value)


def _overrides(overrides: CheckOverrides) -> str:
    values = ((f.name, getattr(overrides, f.name)) for f in fields(overrides))
    return "{" + ", ".join(f"{name}={value:g}" for name, value in values if value is not None) + "}"


def _describe(obj: Site | Pool | Check) -> tuple[str, ...]:
    """The fields of a new object that differ from their defaults."""
    lines = [
        f"{f.name} = {_text(getattr(obj, f.name))}"
        for f in fields(obj)
        if f.name not in ("name", "members") and getattr(obj, f.name) != f.default
    ]
    if isinstance(obj, Pool):
        lines.extend(f"member + {_member(m)}" for m in obj.members)
    return tuple(lines)


def _field_changes(old: Site | Pool | Check, new: Site | Pool | Check) -> tuple[str, ...]:
    return tuple(
        f"{f.name}: {_text(getattr(old, f.name))} -> {_text(getattr(new, f.name))}"
        for f in fields(old)
        if f.name not in ("name", "members") and getattr(old, f.name) != getattr(new, f.name)
    )


def _member(member: Member) -> str:
    text = (
        f"{member.address} site={member.site} weight={member.weight} "
        f"priority={member.priority} state={member.state.value}"
    )
    if member.override is not None:
        text += f" override={member.override.value}"
    if not member.check_overrides.empty:
        text += f" check={_overrides(member.check_overrides)}"
    return text
