"""What ``gslb apply`` would change: a Plan computed from two Inventories, printed for a human.

Like octoDNS's plan, it is computed first and shown whole, so ``--dry-run`` and the real apply
describe the same changes, and an empty plan proves that applying twice changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Literal

from gslb.model import Check, CheckOverrides, Inventory, Member, Pool, Site

Action = Literal["create", "update", "delete"]


@dataclass(frozen=True, slots=True)
class Change:
    """One object to create, update or delete, with what differs."""

    action: Action
    kind: Literal["site", "check", "pool"]
    name: str
    details: tuple[str, ...] = ()

    def __str__(self) -> str:
        sign = {"create": "+", "update": "~", "delete": "-"}[self.action]
        head = f"{sign} {self.kind} {self.name}"
        return "\n".join([head, *(f"    {d}" for d in self.details)])


@dataclass(frozen=True, slots=True)
class Plan:
    changes: tuple[Change, ...]

    @property
    def empty(self) -> bool:
        return not self.changes

    def render(self) -> str:
        if self.empty:
            return "no changes: the store matches the declarations"
        counts = {a: sum(c.action == a for c in self.changes) for a in ("create", "update", "delete")}
        summary = ", ".join(f"{n} to {a}" for a, n in counts.items() if n)
        return "\n".join([*(str(c) for c in self.changes), f"plan: {summary}"])


def plan(current: Inventory, desired: Inventory) -> Plan:
    """Changes that turn ``current`` into ``desired``: sites, checks, pools, then deletions
    (pools, checks, sites: each before what it uses)."""
    changes: list[Change] = []
    current, desired = current.normalized(), desired.normalized()
    now_sites = {s.name: s for s in current.sites}
    new_sites = {s.name: s for s in desired.sites}
    now_pools = {p.name: p for p in current.pools}
    new_pools = {p.name: p for p in desired.pools}
    now_checks = {c.name: c for c in current.checks}
    new_checks = {c.name: c for c in desired.checks}
    for name in sorted(new_sites):
        if name not in now_sites:
            changes.append(Change("create", "site", name, _describe(new_sites[name])))
        elif now_sites[name] != new_sites[name]:
            changes.append(Change("update", "site", name, _field_changes(now_sites[name], new_sites[name])))
    for name in sorted(new_checks):
        if name not in now_checks:
            changes.append(Change("create", "check", name, _describe(new_checks[name])))
        elif now_checks[name] != new_checks[name]:
            details = _field_changes(now_checks[name], new_checks[name])
            changes.append(Change("update", "check", name, details))
    for name in sorted(new_pools):
        if name not in now_pools:
            changes.append(Change("create", "pool", name, _describe(new_pools[name])))
        elif now_pools[name] != new_pools[name]:
            changes.append(Change("update", "pool", name, _pool_changes(now_pools[name], new_pools[name])))
    changes.extend(Change("delete", "pool", n) for n in sorted(set(now_pools) - set(new_pools)))
    changes.extend(Change("delete", "check", n) for n in sorted(set(now_checks) - set(new_checks)))
    changes.extend(Change("delete", "site", n) for n in sorted(set(now_sites) - set(new_sites)))
    return Plan(tuple(changes))


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


def _pool_changes(old: Pool, new: Pool) -> tuple[str, ...]:
    lines = list(_field_changes(old, new))
    before = {m.key: m for m in old.members}
    after = {m.key: m for m in new.members}
    for key in sorted(after):
        if key not in before:
            lines.append(f"member + {_member(after[key])}")
        elif before[key] != after[key]:
            lines.append(f"member ~ {_member(before[key])} -> {_member(after[key])}")
    lines.extend(f"member - {_member(before[key])}" for key in sorted(set(before) - set(after)))
    return tuple(lines)


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
