"""What the store refuses to hold, checked before writing so every problem is named at once.

The same rules are constraints in the database (gslb/store/tables.py); checking them here first
turns "CHECK constraint failed" into ``member 'www/192.0.2.1' weight: 1001 is outside 0-1000``,
and reports all of them together, like the declarative reader does for files.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Hashable, Iterable, Iterator, Mapping
from typing import TypeVar

from gslb.errors import InvalidError, ValidationError
from gslb.model import (
    MAX_WEIGHT,
    AllDown,
    Check,
    CheckOverrides,
    CheckType,
    Inventory,
    Member,
    Pool,
    PoolKind,
    Site,
)
from gslb.store.tables import (
    ADDRESS_LENGTH,
    MAX_INTERVAL,
    MAX_RESULTS,
    MAX_TTL,
    METHOD_LENGTH,
    MIN_INTERVAL,
    OBJECT_NAME_LENGTH,
    OWNER_NAME_LENGTH,
    TEXT_LENGTH,
)

NAME_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_")

T = TypeVar("T", bound=Hashable)


def member_name(pool: str, address: str) -> str:
    """How the store names a member in errors and in the change log."""
    return f"{pool}/{address}"


def raise_problems(problems: list[InvalidError]) -> None:
    if problems:
        raise ValidationError(problems)


def check_inventory(inventory: Inventory) -> None:
    """Raise ValidationError listing every value of ``inventory`` the store would refuse."""
    raise_problems(inventory_problems(inventory))


def inventory_problems(inventory: Inventory) -> list[InvalidError]:
    problems: list[InvalidError] = []
    sites: set[str] = set()
    for site in inventory.sites:
        if site.name in sites:
            problems.append(InvalidError("site", site.name, "declared twice", "name"))
        sites.add(site.name)
        problems.extend(site_problems(site))
    checks: dict[str, Check] = {}
    for check in inventory.checks:
        if check.name in checks:
            problems.append(InvalidError("check", check.name, "declared twice", "name"))
        checks[check.name] = check
        problems.extend(check_problems(check))
    fallbacks: dict[str, str | None] = {}
    owners: dict[str, str] = {}
    for pool in inventory.pools:
        if pool.name in fallbacks:
            problems.append(InvalidError("pool", pool.name, "declared twice", "name"))
        fallbacks[pool.name] = pool.fallback
        for owner in pool.names:
            if owners.setdefault(owner, pool.name) != pool.name:
                detail = f"{owner} is also a name of pool {owners[owner]!r}"
                problems.append(InvalidError("pool", pool.name, detail, "names"))
    for pool in inventory.pools:
        problems.extend(pool_problems(pool))
        problems.extend(reference_problems(pool, sites, fallbacks, checks))
    return problems


def site_problems(site: Site) -> list[InvalidError]:
    problems = list(_name_problems("site", site.name))
    for field, text in (("region", site.region), ("description", site.description)):
        if len(text) > TEXT_LENGTH:
            problems.append(InvalidError("site", site.name, f"longer than {TEXT_LENGTH} characters", field))
    for field, values in (("subnets", site.subnets), ("vips", site.vips)):
        for value in _duplicates(values):
            problems.append(InvalidError("site", site.name, f"{value} is listed twice", field))
    return problems


def pool_problems(pool: Pool) -> list[InvalidError]:
    """Problems of the pool's own fields and members, whatever else is stored."""

    def problem(detail: str, field: str) -> None:
        problems.append(InvalidError("pool", pool.name, detail, field))

    problems = list(_name_problems("pool", pool.name))
    for owner in pool.names:
        if not owner.endswith(".") or len(owner) > OWNER_NAME_LENGTH:
            problem(f"{owner!r} is not an absolute DNS name of {OWNER_NAME_LENGTH} bytes or less", "names")
    for owner in _duplicates(pool.names):
        problem(f"{owner} is listed twice", "names")
    if not 0 <= pool.ttl <= MAX_TTL:
        problem(f"{pool.ttl} is outside 0-{MAX_TTL}", "ttl")
    if pool.answer_count is not None and pool.answer_count < 1:
        problem(f"{pool.answer_count} is less than 1", "answer_count")
    if pool.all_down == AllDown.FALLBACK and pool.fallback is None:
        problem("required when all_down = 'fallback'", "fallback")
    if pool.fallback is not None and pool.all_down != AllDown.FALLBACK:
        problem("only meaningful with all_down = 'fallback'", "fallback")
    if pool.fallback == pool.name:
        problem("a pool cannot fall back to itself", "fallback")
    problems.extend(_override_problems("pool", pool.name, pool.check_overrides))
    if pool.health_check is None and not pool.check_overrides.empty:
        problem("only meaningful with health_check", "check_overrides")
    for site in _duplicates(pool.site_order):
        problem(f"{site} is listed twice", "site_order")
    for address in _duplicates(m.address for m in pool.members):
        problems.append(
            InvalidError("member", member_name(pool.name, address), "listed twice in the pool", "address")
        )
    for member in pool.members:
        problems.extend(_member_problems(pool, member))
    return problems


def _member_problems(pool: Pool, member: Member) -> Iterator[InvalidError]:
    name = member_name(pool.name, member.address)
    if not 0 <= member.weight <= MAX_WEIGHT:
        yield InvalidError("member", name, f"{member.weight} is outside 0-{MAX_WEIGHT}", "weight")
    if member.priority < 0:
        yield InvalidError("member", name, f"{member.priority} is negative", "priority")
    yield from _override_problems("member", name, member.check_overrides)
    if pool.health_check is None and not member.check_overrides.empty:
        yield InvalidError("member", name, "only meaningful in a pool with a health_check", "check_overrides")
    if pool.kind == PoolKind.ADDRESS:
        try:
            canonical = str(ipaddress.ip_address(member.address))
        except ValueError:
            yield InvalidError("member", name, "not an IPv4 or IPv6 address", "address")
        else:
            # One address, one spelling: the (pool, address) key must catch every duplicate.
            if canonical != member.address:
                yield InvalidError("member", name, f"write it as {canonical}", "address")
    elif not member.address.endswith(".") or len(member.address) > ADDRESS_LENGTH:
        detail = f"not an absolute host name of at most {ADDRESS_LENGTH} characters"
        yield InvalidError("member", name, detail, "address")


def check_problems(check: Check) -> list[InvalidError]:
    """Problems of one check's own fields."""

    def problem(detail: str, field: str) -> None:
        problems.append(InvalidError("check", check.name, detail, field))

    problems = list(_name_problems("check", check.name))
    if check.port is not None and not 1 <= check.port <= 65535:
        problem(f"{check.port} is outside 1-65535", "port")
    if check.type is CheckType.TCP and check.port is None:
        problem("required for a tcp check", "port")
    if check.type is CheckType.PASSIVE and check.port is not None:
        problem("a passive check has no port", "port")
    if not MIN_INTERVAL <= check.interval <= MAX_INTERVAL:
        problem(f"{check.interval:g} is outside {MIN_INTERVAL:g}-{MAX_INTERVAL:g}", "interval")
    if not 0 < check.timeout < check.interval:
        problem(f"{check.timeout:g} must be above 0 and below the interval, {check.interval:g}", "timeout")
    for field, count in (("rise", check.rise), ("fall", check.fall)):
        if not 1 <= count <= MAX_RESULTS:
            problem(f"{count} is outside 1-{MAX_RESULTS}", field)
    if not 0 <= check.jitter < 1:
        problem(f"{check.jitter:g} is outside [0, 1)", "jitter")
    if not check.method or len(check.method) > METHOD_LENGTH:
        problem(f"must be 1-{METHOD_LENGTH} characters", "method")
    for field, text in (("path", check.path), ("host", check.host), ("body", check.body), ("sni", check.sni)):
        if text is not None and len(text) > TEXT_LENGTH:
            problem(f"longer than {TEXT_LENGTH} characters", field)
    if not check.expect or any(not 100 <= low <= high <= 599 for low, high in check.expect):
        problem("must be ranges of statuses within 100-599", "expect")
    return problems


def _override_problems(object_type: str, name: str, overrides: CheckOverrides) -> Iterator[InvalidError]:
    detail = "check_overrides"
    if overrides.port is not None and not 1 <= overrides.port <= 65535:
        yield InvalidError(object_type, name, f"port {overrides.port} is outside 1-65535", detail)
    if overrides.interval is not None and not MIN_INTERVAL <= overrides.interval <= MAX_INTERVAL:
        text = f"interval {overrides.interval:g} is outside {MIN_INTERVAL:g}-{MAX_INTERVAL:g}"
        yield InvalidError(object_type, name, text, detail)
    if overrides.timeout is not None and not overrides.timeout > 0:
        yield InvalidError(object_type, name, f"timeout {overrides.timeout:g} is not positive", detail)
    for field, count in (("rise", overrides.rise), ("fall", overrides.fall)):
        if count is not None and not 1 <= count <= MAX_RESULTS:
            yield InvalidError(object_type, name, f"{field} {count} is outside 1-{MAX_RESULTS}", detail)


def check_use_problems(pool: Pool, check: Check) -> list[InvalidError]:
    """Overrides of ``pool`` and its members that do not fit ``check``."""
    problems: list[InvalidError] = []
    field = "check_overrides"
    pool_level = pool.check_overrides.applied_to(check)
    targets: list[tuple[str, str, CheckOverrides, Check]] = [
        ("pool", pool.name, pool.check_overrides, pool_level)
    ]
    for member in pool.members:
        effective = member.check_overrides.applied_to(pool_level)
        name = member_name(pool.name, member.address)
        targets.append(("member", name, member.check_overrides, effective))
    for object_type, name, overrides, effective in targets:
        if overrides.empty:
            continue
        if not check.type.probed and (overrides.port, overrides.interval, overrides.timeout) != (None,) * 3:
            detail = f"check {check.name!r} is passive: only rise and fall apply"
            problems.append(InvalidError(object_type, name, detail, field))
        elif effective.timeout >= effective.interval:
            detail = (
                f"timeout {effective.timeout:g} must be below the interval, {effective.interval:g}"
                f" (check {check.name!r} with the overrides)"
            )
            problems.append(InvalidError(object_type, name, detail, field))
    return problems


def reference_problems(
    pool: Pool,
    sites: Collection[str],
    fallbacks: Mapping[str, str | None],
    checks: Mapping[str, Check],
) -> list[InvalidError]:
    """Sites, fallback pools and checks ``pool`` names that do not exist, fallback loops, and
    overrides that do not fit the pool's check.

    ``fallbacks`` maps every pool that will exist after the write to its fallback; ``checks``
    holds at least the pool's check, if it exists.
    """
    problems = [
        InvalidError("member", member_name(pool.name, m.address), f"unknown site {m.site!r}", "site")
        for m in pool.members
        if m.site not in sites
    ]
    problems.extend(
        InvalidError("pool", pool.name, f"unknown site {s!r}", "site_order")
        for s in pool.site_order
        if s not in sites
    )
    if pool.fallback is not None and pool.fallback != pool.name:
        if pool.fallback not in fallbacks:
            problems.append(InvalidError("pool", pool.name, f"unknown pool {pool.fallback!r}", "fallback"))
        elif _loops(pool.name, {**fallbacks, pool.name: pool.fallback}):
            problems.append(InvalidError("pool", pool.name, "fallback pools form a loop", "fallback"))
    if pool.health_check is not None:
        check = checks.get(pool.health_check)
        if check is None:
            detail = f"unknown check {pool.health_check!r}"
            problems.append(InvalidError("pool", pool.name, detail, "health_check"))
        else:
            problems.extend(check_use_problems(pool, check))
    return problems


def fallback_order(fallbacks: Mapping[str, str | None]) -> list[str]:
    """Pool names with every pool after the pool it falls back to (fallbacks must not loop)."""
    order: list[str] = []
    placed: set[str] = set()
    for start in sorted(fallbacks):
        chain: list[str] = []
        current: str | None = start
        while current is not None and current in fallbacks and current not in placed:
            chain.append(current)
            placed.add(current)
            current = fallbacks[current]
        order.extend(reversed(chain))
    return order


def _loops(start: str, fallbacks: Mapping[str, str | None]) -> bool:
    seen = {start}
    current = fallbacks.get(start)
    while current is not None:
        if current in seen:
            return True
        seen.add(current)
        current = fallbacks.get(current)
    return False


def _name_problems(object_type: str, name: str) -> Iterator[InvalidError]:
    if not 0 < len(name) <= OBJECT_NAME_LENGTH or not set(name) <= NAME_CHARACTERS:
        detail = f"must be 1-{OBJECT_NAME_LENGTH} characters of a-z, 0-9, '-' and '_'"
        yield InvalidError(object_type, name, detail, "name")


def _duplicates(values: Iterable[T]) -> list[T]:
    seen: set[T] = set()
    twice: list[T] = []
    for value in values:
        if value in seen and value not in twice:
            twice.append(value)
        seen.add(value)
    return twice
