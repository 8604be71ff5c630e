"""``[pools.NAME]``: the owner names a pool answers for, how it picks among its members, and what
it answers when every member is down.

A name must lie in a served zone and carry no static A, AAAA or CNAME records, since a name answers
from a pool or from a zone file, never both: ``Served`` holds what decides that.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dns.exception
import dns.name

from gslb.declare import fields
from gslb.declare.checks import read_overrides
from gslb.declare.members import read_members
from gslb.declare.problems import Problems
from gslb.declare.references import References
from gslb.model import AllDown, Policy, Pool, PoolKind

POOL_KEYS = {
    "names", "kind", "policy", "answer_count", "ttl", "all_down",
    "fallback", "health_check", "check", "site_order", "members",
}  # fmt: skip
MAX_ANSWER_COUNT = 16
MIN_TTL, MAX_TTL = 0, 86400


@dataclass(frozen=True, slots=True)
class Served:
    """The served zones' origins, and owner names with static A/AAAA/CNAME records → their file."""

    origins: tuple[dns.name.Name, ...]
    static_names: Mapping[str, str]


def read_pool(
    problems: Problems,
    references: References,
    served: Served,
    name: str,
    body: dict[str, Any],
    earlier: Path | None,
) -> Pool | None:
    """One pool's table; None if ``earlier`` (the file that declared the name first) is not None."""
    where = f"pools.{name}"
    fields.unknown_keys(problems, body, POOL_KEYS, where)
    if earlier is not None:
        problems.add(where, f"also declared in {earlier}")
        return None
    kind = (
        fields.enum(problems, PoolKind, body.get("kind", PoolKind.ADDRESS.value), f"{where}.kind")
        or PoolKind.ADDRESS
    )
    names = _owner_names(problems, served, body, where, kind)
    policy = (
        fields.enum(problems, Policy, body.get("policy", Policy.WEIGHTED.value), f"{where}.policy")
        or Policy.WEIGHTED
    )
    answer_count = body.get("answer_count")
    if answer_count is not None and not fields.integer(
        problems, answer_count, 1, MAX_ANSWER_COUNT, f"{where}.answer_count"
    ):
        answer_count = None
    ttl = body.get("ttl", 30)
    if not fields.integer(problems, ttl, MIN_TTL, MAX_TTL, f"{where}.ttl"):
        ttl = 30
    all_down = fields.enum(
        problems, AllDown, body.get("all_down", AllDown.FAIL_OPEN.value), f"{where}.all_down"
    )
    fallback = body.get("fallback")
    if fallback is not None and not isinstance(fallback, str):
        problems.add(f"{where}.fallback", "must be a pool name")
        fallback = None
    if all_down == AllDown.FALLBACK and fallback is None:
        problems.add(f"{where}.fallback", "required when all_down = 'fallback'")
    if fallback is not None and all_down != AllDown.FALLBACK:
        problems.add(f"{where}.fallback", "only meaningful with all_down = 'fallback'")
    health_check = body.get("health_check")
    if health_check is not None and not isinstance(health_check, str):
        problems.add(f"{where}.health_check", "must be the name of a check")
        health_check = None
    check_overrides = read_overrides(problems, references, body, where, name)
    return Pool(
        name,
        names=names,
        kind=kind,
        policy=policy,
        answer_count=answer_count,
        ttl=ttl,
        all_down=all_down or AllDown.FAIL_OPEN,
        fallback=fallback,
        health_check=health_check,
        check_overrides=check_overrides,
        site_order=tuple(fields.string_list(problems, body, "site_order", where)),
        members=read_members(problems, references, body.get("members", []), where, kind, name),
    )


def _owner_names(
    problems: Problems, served: Served, body: Mapping[str, Any], where: str, kind: PoolKind
) -> tuple[str, ...]:
    texts = fields.string_list(problems, body, "names", where)
    if not texts and "names" in body:
        problems.add(f"{where}.names", "at least one name is required")
    if "names" not in body:
        problems.add(f"{where}.names", "required: the owner names this pool answers for")
    static_names = served.static_names
    owners = []
    for index, text in enumerate(texts):
        field_where = f"{where}.names[{index}]"
        try:
            name = dns.name.from_text(text).canonicalize()
        except dns.exception.DNSException as exc:
            problems.add(field_where, f"{text!r} is not a DNS name: {exc}")
            continue
        zone = max((o for o in served.origins if name.is_subdomain(o)), key=len, default=None)
        if zone is None:
            problems.add(field_where, f"{name} is not inside a served zone")
            continue
        if kind == PoolKind.CNAME and name == zone:
            problems.add(field_where, "a CNAME pool cannot answer for the zone apex")
        owner = name.to_text()
        if owner in static_names:
            problems.add(field_where, f"{owner} already has A/AAAA/CNAME records in {static_names[owner]}")
        owners.append(owner)
    return tuple(owners)
