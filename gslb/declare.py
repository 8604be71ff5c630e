"""Sites and pools declared in TOML files next to the zone files, read into an Inventory.

Operators edit these by hand and review them in change requests, so every problem in every
file is collected and reported at once, each with its file, object and field
(``zones/pools.toml: pools.www.members[1].address: ...``), and nothing is applied until all
are fixed (octoDNS-style validation).
"""

from __future__ import annotations

import ipaddress
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import dns.exception
import dns.name

from gslb.errors import GslbError
from gslb.model import (
    MAX_WEIGHT,
    AdminState,
    AllDown,
    Inventory,
    LvsMode,
    Member,
    Policy,
    Pool,
    PoolKind,
    Site,
)

DECLARATION_SUFFIX = ".toml"
MAX_ANSWER_COUNT = 16
MIN_TTL, MAX_TTL = 0, 86400

SITE_KEYS = {"region", "description", "subnets", "lvs_mode", "vips"}
POOL_KEYS = {
    "names", "kind", "policy", "answer_count", "ttl", "all_down",
    "fallback", "health_check", "site_order", "members",
}  # fmt: skip
MEMBER_KEYS = {"site", "address", "weight", "priority", "state"}

E = TypeVar("E", Policy, AllDown, AdminState, LvsMode, PoolKind)


@dataclass(frozen=True, slots=True)
class Problem:
    """One invalid field: where it is and what is wrong with it."""

    path: str
    where: str  # object and field, e.g. pools.www.members[1].address
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.where}: {self.message}"


class DeclarationError(GslbError):
    """Declarations that cannot be applied; ``problems`` lists every one found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def declaration_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.is_file() and p.name.endswith(DECLARATION_SUFFIX))


def read_declarations(
    directory: Path, zone_origins: Iterable[str], static_names: Mapping[str, str]
) -> Inventory:
    """Read every ``*.toml`` of ``directory`` into one validated Inventory.

    ``zone_origins`` are the served zones (pool names must lie inside one); ``static_names``
    maps owner names that carry A, AAAA or CNAME records in a zone file to that file, because a
    name answers either from a pool or from static data, never both.
    """
    reader = _Reader(tuple(dns.name.from_text(o) for o in zone_origins), static_names)
    for path in declaration_files(directory):
        reader.read_file(path)
    return reader.finish()


class _Reader:
    def __init__(self, origins: tuple[dns.name.Name, ...], static_names: Mapping[str, str]) -> None:
        self.origins = origins
        self.static_names = static_names
        self.problems: list[Problem] = []
        self.sites: dict[str, tuple[Site, Path]] = {}
        self.pools: dict[str, tuple[Pool, Path]] = {}
        self.site_references: list[tuple[Path, str, str]] = []  # (file, where, site name)
        self.path = Path()

    def problem(self, where: str, message: str) -> None:
        self.problems.append(Problem(str(self.path), where, message))

    def read_file(self, path: Path) -> None:
        self.path = path
        try:
            document = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            self.problem("(file)", f"cannot read: {exc}")
            return
        except tomllib.TOMLDecodeError as exc:
            self.problem("(file)", f"invalid TOML: {exc}")
            return
        for key in sorted(set(document) - {"sites", "pools"}):
            self.problem(key, "unknown section (expected [sites.NAME] or [pools.NAME])")
        for name, body in self.tables(document.get("sites", {}), "sites").items():
            self.read_site(name, body)
        for name, body in self.tables(document.get("pools", {}), "pools").items():
            self.read_pool(name, body)

    def tables(self, value: Any, where: str) -> dict[str, dict[str, Any]]:
        if not isinstance(value, dict):
            self.problem(where, "must be a table of named objects")
            return {}
        good = {}
        for name, body in value.items():
            if not isinstance(body, dict):
                self.problem(f"{where}.{name}", "must be a table")
            elif not _valid_object_name(name):
                self.problem(f"{where}.{name}", "name must be 1-63 characters of a-z, 0-9, '-' and '_'")
            else:
                good[name] = body
        return good

    def unknown_keys(self, body: Mapping[str, Any], allowed: set[str], where: str) -> None:
        for key in sorted(set(body) - allowed):
            self.problem(f"{where}.{key}", f"unknown field (known: {', '.join(sorted(allowed))})")

    def read_site(self, name: str, body: dict[str, Any]) -> None:
        where = f"sites.{name}"
        self.unknown_keys(body, SITE_KEYS, where)
        if name in self.sites:
            self.problem(where, f"also declared in {self.sites[name][1]}")
            return
        subnets = []
        for index, text in enumerate(self.string_list(body, "subnets", where)):
            try:
                subnets.append(ipaddress.ip_network(text))
            except ValueError as exc:
                self.problem(f"{where}.subnets[{index}]", str(exc))
        vips = []
        for index, text in enumerate(self.string_list(body, "vips", where)):
            try:
                vips.append(ipaddress.ip_address(text))
            except ValueError:
                self.problem(f"{where}.vips[{index}]", f"{text!r} is not an IP address")
        mode = body.get("lvs_mode")
        lvs_mode = self.enum(LvsMode, mode, f"{where}.lvs_mode") if mode is not None else None
        site = Site(
            name,
            region=self.string(body, "region", where),
            description=self.string(body, "description", where),
            subnets=tuple(subnets),
            lvs_mode=lvs_mode,
            vips=tuple(vips),
        )
        self.sites[name] = (site, self.path)

    def read_pool(self, name: str, body: dict[str, Any]) -> None:
        where = f"pools.{name}"
        self.unknown_keys(body, POOL_KEYS, where)
        if name in self.pools:
            self.problem(where, f"also declared in {self.pools[name][1]}")
            return
        kind = (
            self.enum(PoolKind, body.get("kind", PoolKind.ADDRESS.value), f"{where}.kind") or PoolKind.ADDRESS
        )
        names = self.owner_names(body, where, kind)
        policy = (
            self.enum(Policy, body.get("policy", Policy.WEIGHTED.value), f"{where}.policy") or Policy.WEIGHTED
        )
        answer_count = body.get("answer_count")
        if answer_count is not None and not self.integer(
            answer_count, 1, MAX_ANSWER_COUNT, f"{where}.answer_count"
        ):
            answer_count = None
        ttl = body.get("ttl", 30)
        if not self.integer(ttl, MIN_TTL, MAX_TTL, f"{where}.ttl"):
            ttl = 30
        all_down = self.enum(AllDown, body.get("all_down", AllDown.FAIL_OPEN.value), f"{where}.all_down")
        fallback = body.get("fallback")
        if fallback is not None and not isinstance(fallback, str):
            self.problem(f"{where}.fallback", "must be a pool name")
            fallback = None
        if all_down == AllDown.FALLBACK and fallback is None:
            self.problem(f"{where}.fallback", "required when all_down = 'fallback'")
        if fallback is not None and all_down != AllDown.FALLBACK:
            self.problem(f"{where}.fallback", "only meaningful with all_down = 'fallback'")
        health_check = body.get("health_check")
        if health_check is not None and not isinstance(health_check, str):
            self.problem(f"{where}.health_check", "must be the name of a check")
            health_check = None
        pool = Pool(
            name,
            names=names,
            kind=kind,
            policy=policy,
            answer_count=answer_count,
            ttl=ttl,
            all_down=all_down or AllDown.FAIL_OPEN,
            fallback=fallback,
            health_check=health_check,
            site_order=tuple(self.string_list(body, "site_order", where)),
            members=self.members(body.get("members", []), where, kind),
        )
        self.pools[name] = (pool, self.path)

    def owner_names(self, body: Mapping[str, Any], where: str, kind: PoolKind) -> tuple[str, ...]:
        texts = self.string_list(body, "names", where)
        if not texts and "names" in body:
            self.problem(f"{where}.names", "at least one name is required")
        if "names" not in body:
            self.problem(f"{where}.names", "required: the owner names this pool answers for")
        owners = []
        for index, text in enumerate(texts):
            field_where = f"{where}.names[{index}]"
            try:
                name = dns.name.from_text(text).canonicalize()
            except dns.exception.DNSException as exc:
                self.problem(field_where, f"{text!r} is not a DNS name: {exc}")
                continue
            zone = max((o for o in self.origins if name.is_subdomain(o)), key=len, default=None)
            if zone is None:
                self.problem(field_where, f"{name} is not inside a served zone")
                continue
            if kind == PoolKind.CNAME and name == zone:
                self.problem(field_where, "a CNAME pool cannot answer for the zone apex")
            owner = name.to_text()
            if owner in self.static_names:
                self.problem(
                    field_where, f"{owner} already has A/AAAA/CNAME records in {self.static_names[owner]}"
                )
            owners.append(owner)
        return tuple(owners)

    def members(self, value: Any, where: str, kind: PoolKind) -> tuple[Member, ...]:
        if not isinstance(value, list):
            self.problem(f"{where}.members", "must be a list of member tables")
            return ()
        members: list[Member] = []
        seen: dict[str, int] = {}
        for index, body in enumerate(value):
            member_where = f"{where}.members[{index}]"
            if not isinstance(body, dict):
                self.problem(member_where, "must be a table with site and address")
                continue
            self.unknown_keys(body, MEMBER_KEYS, member_where)
            site = body.get("site")
            if not isinstance(site, str):
                self.problem(f"{member_where}.site", "required: the name of a declared site")
                continue
            self.site_references.append((self.path, f"{member_where}.site", site))
            address = self.member_address(body.get("address"), kind, f"{member_where}.address")
            if address is None:
                continue
            if address in seen:
                self.problem(f"{member_where}.address", f"{address} is already members[{seen[address]}]")
                continue
            seen[address] = index
            weight = body.get("weight", 100)
            if not self.integer(weight, 0, MAX_WEIGHT, f"{member_where}.weight"):
                weight = 100
            priority = body.get("priority", 0)
            if not self.integer(priority, 0, 1000, f"{member_where}.priority"):
                priority = 0
            state = (
                self.enum(AdminState, body.get("state", "enabled"), f"{member_where}.state")
                or AdminState.ENABLED
            )
            members.append(Member(site, address, weight, priority, state))
        return tuple(members)

    def member_address(self, value: Any, kind: PoolKind, where: str) -> str | None:
        if not isinstance(value, str):
            self.problem(
                where, "required: " + ("an IP address" if kind == PoolKind.ADDRESS else "a host name")
            )
            return None
        if kind == PoolKind.ADDRESS:
            try:
                return str(ipaddress.ip_address(value))
            except ValueError:
                self.problem(where, f"{value!r} is not an IPv4 or IPv6 address")
                return None
        try:
            return dns.name.from_text(value).canonicalize().to_text()
        except dns.exception.DNSException as exc:
            self.problem(where, f"{value!r} is not a host name: {exc}")
            return None

    def string(self, body: Mapping[str, Any], key: str, where: str) -> str:
        value = body.get(key, "")
        if not isinstance(value, str):
            self.problem(f"{where}.{key}", "must be a string")
            return ""
        return value

    def string_list(self, body: Mapping[str, Any], key: str, where: str) -> list[str]:
        value = body.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.problem(f"{where}.{key}", "must be a list of strings")
            return []
        return value

    def integer(self, value: Any, low: int, high: int, where: str) -> bool:
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem(where, f"must be an integer, got {value!r}")
            return False
        if not low <= value <= high:
            self.problem(where, f"{value} is outside {low}-{high}")
            return False
        return True

    def enum(self, kind: type[E], value: Any, where: str) -> E | None:
        try:
            return kind(value)
        except ValueError:
            self.problem(where, f"{value!r} is not one of {', '.join(e.value for e in kind)}")
            return None

    def finish(self) -> Inventory:
        """Cross-object checks (sites exist, fallbacks resolve, names unique), then the Inventory."""
        owners: dict[str, str] = {}
        for name, (pool, path) in sorted(self.pools.items()):
            self.path = path
            for index, site in enumerate(pool.site_order):
                if site not in self.sites:
                    self.problem(f"pools.{name}.site_order[{index}]", f"unknown site {site!r}")
            if pool.fallback is not None:
                if pool.fallback not in self.pools:
                    self.problem(f"pools.{name}.fallback", f"unknown pool {pool.fallback!r}")
                elif self.fallback_loops(name):
                    self.problem(f"pools.{name}.fallback", "fallback pools form a loop")
            for index, owner in enumerate(pool.names):
                if owner in owners:
                    self.problem(
                        f"pools.{name}.names[{index}]", f"{owner} is also a name of pool {owners[owner]!r}"
                    )
                owners.setdefault(owner, name)
        for path, where, site in self.site_references:
            if site not in self.sites:
                self.problems.append(Problem(str(path), where, f"unknown site {site!r}"))
        if self.problems:
            raise DeclarationError(self.problems)
        return Inventory(
            sites=tuple(site for site, _ in self.sites.values()),
            pools=tuple(pool for pool, _ in self.pools.values()),
        ).normalized()

    def fallback_loops(self, start: str) -> bool:
        seen = {start}
        current = self.pools[start][0].fallback
        while current is not None and current in self.pools:
            if current in seen:
                return True
            seen.add(current)
            current = self.pools[current][0].fallback
        return False


def _valid_object_name(name: str) -> bool:
    return (
        0 < len(name) <= 63
        and all(c.isascii() and (c.isalnum() or c in "-_") for c in name)
        and name == name.lower()
    )
