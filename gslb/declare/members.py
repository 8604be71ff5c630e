"""A pool's ``members``: a site and an address (an IP address or a host name, by the pool's kind),
and how much traffic the member takes.

A member is known by its address, so one without a readable site and address is not read further;
its site is noted in ``References`` and must be declared somewhere.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

import dns.exception
import dns.name

from gslb.declare import fields
from gslb.declare.checks import read_overrides
from gslb.declare.problems import Problems
from gslb.declare.references import References
from gslb.model import MAX_WEIGHT, AdminState, HealthOverride, Member, PoolKind

MEMBER_KEYS = {"site", "address", "weight", "priority", "state", "check", "override"}
MAX_PRIORITY = 1000


def read_members(
    problems: Problems, references: References, value: Any, where: str, kind: PoolKind, pool: str
) -> tuple[Member, ...]:
    if not isinstance(value, list):
        problems.add(f"{where}.members", "must be a list of member tables")
        return ()
    members: list[Member] = []
    seen: dict[str, int] = {}
    for index, body in enumerate(value):
        member_where = f"{where}.members[{index}]"
        if not isinstance(body, dict):
            problems.add(member_where, "must be a table with site and address")
            continue
        identity = member_identity(problems, references, body, member_where, kind)
        if identity is None:
            continue
        address = identity[1]
        if address in seen:
            problems.add(f"{member_where}.address", f"{address} is already members[{seen[address]}]")
            continue
        seen[address] = index
        members.append(read_member(problems, references, body, member_where, pool, *identity))
    return tuple(members)


def member_identity(
    problems: Problems, references: References, body: Mapping[str, Any], where: str, kind: PoolKind
) -> tuple[str, str] | None:
    """A member's site and canonical address, the fields without which nothing else is read."""
    fields.unknown_keys(problems, body, MEMBER_KEYS, where)
    site = body.get("site")
    if not isinstance(site, str):
        problems.add(f"{where}.site", "required: the name of a declared site")
        return None
    if not fields.valid_object_name(site):
        problems.add(f"{where}.site", f"{site!r} is not a site name (1-63 characters of a-z, 0-9, '-', '_')")
        return None
    references.sites.append((problems.path, f"{where}.site", site))
    address = _address(problems, body.get("address"), kind, f"{where}.address")
    return None if address is None else (site, address)


def read_member(
    problems: Problems,
    references: References,
    body: Mapping[str, Any],
    where: str,
    pool: str,
    site: str,
    address: str,
) -> Member:
    """The rest of a member whose ``member_identity`` was read."""
    weight = body.get("weight", 100)
    if not fields.integer(problems, weight, 0, MAX_WEIGHT, f"{where}.weight"):
        weight = 100
    priority = body.get("priority", 0)
    if not fields.integer(problems, priority, 0, MAX_PRIORITY, f"{where}.priority"):
        priority = 0
    state = (
        fields.enum(problems, AdminState, body.get("state", "enabled"), f"{where}.state")
        or AdminState.ENABLED
    )
    override = body.get("override")
    if override is not None:
        override = fields.enum(problems, HealthOverride, override, f"{where}.override")
    check_overrides = read_overrides(problems, references, body, where, pool)
    return Member(site, address, weight, priority, state, check_overrides, override)


def _address(problems: Problems, value: Any, kind: PoolKind, where: str) -> str | None:
    if not isinstance(value, str):
        problems.add(where, "required: " + ("an IP address" if kind == PoolKind.ADDRESS else "a host name"))
        return None
    if kind == PoolKind.ADDRESS:
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            problems.add(where, f"{value!r} is not an IPv4 or IPv6 address")
            return None
        if isinstance(address, ipaddress.IPv6Address) and address.scope_id is not None:
            # An AAAA record has no room for a scope: the answer could not even be built.
            problems.add(where, f"{value!r} has a scope (%...), which a DNS answer cannot carry")
            return None
        return str(address)
    try:
        return dns.name.from_text(value).canonicalize().to_text()
    except dns.exception.DNSException as exc:
        problems.add(where, f"{value!r} is not a host name: {exc}")
        return None
