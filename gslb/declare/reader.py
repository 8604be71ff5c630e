"""Sites, pools and health checks declared in TOML files next to the zone files, read into an Inventory.

Operators edit these by hand and review them in change requests, so every problem in every
file is collected and reported at once, each with its file, object and field
(``zones/pools.toml: pools.www.members[1].address: ...``), and nothing is applied until all
are fixed (octoDNS-style validation).
"""

from __future__ import annotations

import ipaddress
import math
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import dns.exception
import dns.name

from gslb.errors import GslbError
from gslb.model import (
    DEFAULT_EXPECT,
    DEFAULT_FALL,
    DEFAULT_INTERVAL,
    DEFAULT_JITTER,
    DEFAULT_RISE,
    DEFAULT_TIMEOUT,
    MAX_WEIGHT,
    AdminState,
    AllDown,
    Check,
    CheckOverrides,
    CheckType,
    HealthOverride,
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
MAX_PRIORITY = 1000
MIN_TTL, MAX_TTL = 0, 86400

SITE_KEYS = {"region", "description", "subnets", "lvs_mode", "vips"}
POOL_KEYS = {
    "names", "kind", "policy", "answer_count", "ttl", "all_down",
    "fallback", "health_check", "check", "site_order", "members",
}  # fmt: skip
MEMBER_KEYS = {"site", "address", "weight", "priority", "state", "check", "override"}

# Check fields by the check types they mean something for: a field of another type is refused
# rather than ignored, so that a check does exactly what its declaration reads like.
TIMING_KEYS = {"interval", "timeout", "jitter"}
CHECK_KEYS: dict[CheckType, set[str]] = {
    CheckType.TCP: {"port", "rise", "fall", *TIMING_KEYS},
    CheckType.HTTP: {"port", "method", "path", "host", "expect", "body", "rise", "fall", *TIMING_KEYS},
    CheckType.HTTPS: {
        "port", "method", "path", "host", "expect", "body", "sni", "verify_tls", "rise", "fall", *TIMING_KEYS,
    },
    # Pushed results go through the same rise/fall state machine as probed ones.
    CheckType.PASSIVE: {"rise", "fall"},
}  # fmt: skip
ALL_CHECK_KEYS = {"type"}.union(*CHECK_KEYS.values())
OVERRIDE_KEYS = {"port", "interval", "timeout", "rise", "fall"}
# What a null may stand for in an object the admin API receives: any field of its kind (a check's
# of any type, so a GET of one type can be PUT back as another with the rest left null).
NULLABLE_KEYS = {"sites": SITE_KEYS, "checks": ALL_CHECK_KEYS, "pools": POOL_KEYS}
MIN_INTERVAL, MAX_INTERVAL = 0.1, 3600.0
MAX_RESULTS = 100  # rise and fall
MAX_TEXT = 1000  # path, host, body, sni: what the store holds

E = TypeVar("E", Policy, AllDown, AdminState, LvsMode, PoolKind, CheckType, HealthOverride)


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


def read_site(name: str, body: Mapping[str, Any]) -> Site:
    """One site's table, as the admin API receives it (see ``read_pool``)."""
    reader = _Reader((), {})
    reader.read_one("sites", name, body, reader.read_site)
    return reader.sites[name][0]


def read_check(name: str, body: Mapping[str, Any]) -> Check:
    """One check's table, as the admin API receives it (see ``read_pool``)."""
    reader = _Reader((), {})
    reader.read_one("checks", name, body, reader.read_check)
    return reader.checks[name][0]


def read_pool(
    name: str, body: Mapping[str, Any], zone_origins: Iterable[str], static_names: Mapping[str, str]
) -> Pool:
    """One pool's table, read by the rules of the files, so the API and ``zones/`` agree on every one.

    A JSON null stands for a field left out (TOML has no null). Problems are raised together, as a
    DeclarationError whose ``where`` is relative to the object (``members[1].address``); rules
    between objects (sites and checks that exist, fallback loops, names of other pools) are the
    store's to check, against what is stored when the object is written.
    """
    reader = _Reader(tuple(dns.name.from_text(o) for o in zone_origins), static_names)
    reader.read_one("pools", name, body, reader.read_pool)
    return reader.pools[name][0]


def read_member(pool: Pool, body: Mapping[str, Any]) -> Member:
    """One member's table for ``pool`` (its kind decides what an address is); see ``read_pool``."""
    reader = _Reader((), {})
    where = "member"
    reader.stray_nulls(body, MEMBER_KEYS, where)
    present = _present(body)
    reader.refuse_nul(present, where)
    identity = reader.member_identity(present, where, pool.kind)
    member = reader.member(present, where, pool.name, *identity) if identity is not None else None
    reader.raise_relative(where)
    assert member is not None  # without an identity there is a problem
    return member


def _present(value: Any) -> Any:
    """``value`` without the JSON nulls in its tables: a null field is one left out."""
    if isinstance(value, Mapping):
        return {k: _present(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_present(v) if isinstance(v, Mapping) else v for v in value]
    return value


class _Reader:
    def __init__(self, origins: tuple[dns.name.Name, ...], static_names: Mapping[str, str]) -> None:
        self.origins = origins
        self.static_names = static_names
        self.problems: list[Problem] = []
        self.sites: dict[str, tuple[Site, Path]] = {}
        self.pools: dict[str, tuple[Pool, Path]] = {}
        self.checks: dict[str, tuple[Check, Path]] = {}
        self.site_references: list[tuple[Path, str, str]] = []  # (file, where, site name)
        # (file, where, pool, overrides): checked against the pool's check once all are read
        self.override_references: list[tuple[Path, str, str, CheckOverrides]] = []
        self.path = Path()

    def problem(self, where: str, message: str) -> None:
        self.problems.append(Problem(str(self.path), where, message))

    def read_one(
        self, section: str, name: str, body: Mapping[str, Any], read: Callable[[str, dict[str, Any]], None]
    ) -> None:
        """Read one object's table outside any file; raise its problems relative to it."""
        if not valid_object_name(name):
            self.problem(f"{section}.{name}.name", "must be 1-63 characters of a-z, 0-9, '-' and '_'")
        self.stray_nulls(body, NULLABLE_KEYS[section], f"{section}.{name}")
        present = _present(body)
        self.refuse_nul(present, f"{section}.{name}")
        read(name, present)
        self.raise_relative(f"{section}.{name}")

    def refuse_nul(self, value: Any, where: str) -> None:
        """NUL characters, anywhere: PostgreSQL cannot store them, not even compare with them."""
        if isinstance(value, str) and "\x00" in value:
            self.problem(where, "must not contain NUL characters")
        elif isinstance(value, Mapping):
            for key, item in value.items():
                self.refuse_nul(key, where or "(file)")
                self.refuse_nul(item, f"{where}.{key}" if where else key)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                self.refuse_nul(item, f"{where}[{index}]")

    def raise_relative(self, prefix: str) -> None:
        if self.problems:
            raise DeclarationError(
                [replace(p, where=p.where.removeprefix(f"{prefix}.")) for p in self.problems]
            )

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
        found = len(self.problems)
        self.refuse_nul(document, "")
        if len(self.problems) > found:
            return
        for key in sorted(set(document) - {"sites", "pools", "checks"}):
            self.problem(key, "unknown section (expected [sites.NAME], [pools.NAME] or [checks.NAME])")
        for name, body in self.tables(document.get("sites", {}), "sites").items():
            self.read_site(name, body)
        for name, body in self.tables(document.get("checks", {}), "checks").items():
            self.read_check(name, body)
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
            elif not valid_object_name(name):
                self.problem(f"{where}.{name}", "name must be 1-63 characters of a-z, 0-9, '-' and '_'")
            else:
                good[name] = body
        return good

    def stray_nulls(self, body: Mapping[str, Any], allowed: set[str], where: str) -> None:
        """A null stands for a field left out, so it must name a field: ``_present`` drops nulls
        before the readers see which fields there are."""
        self.unknown_keys({key: None for key, value in body.items() if value is None}, allowed, where)

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
        check_overrides = self.check_overrides(body, where, name)
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
            check_overrides=check_overrides,
            site_order=tuple(self.string_list(body, "site_order", where)),
            members=self.members(body.get("members", []), where, kind, name),
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

    def members(self, value: Any, where: str, kind: PoolKind, pool: str) -> tuple[Member, ...]:
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
            identity = self.member_identity(body, member_where, kind)
            if identity is None:
                continue
            address = identity[1]
            if address in seen:
                self.problem(f"{member_where}.address", f"{address} is already members[{seen[address]}]")
                continue
            seen[address] = index
            members.append(self.member(body, member_where, pool, *identity))
        return tuple(members)

    def member_identity(self, body: Mapping[str, Any], where: str, kind: PoolKind) -> tuple[str, str] | None:
        """A member's site and canonical address, the fields without which nothing else is read."""
        self.unknown_keys(body, MEMBER_KEYS, where)
        site = body.get("site")
        if not isinstance(site, str):
            self.problem(f"{where}.site", "required: the name of a declared site")
            return None
        if not valid_object_name(site):
            self.problem(
                f"{where}.site", f"{site!r} is not a site name (1-63 characters of a-z, 0-9, '-', '_')"
            )
            return None
        self.site_references.append((self.path, f"{where}.site", site))
        address = self.member_address(body.get("address"), kind, f"{where}.address")
        return None if address is None else (site, address)

    def member(self, body: Mapping[str, Any], where: str, pool: str, site: str, address: str) -> Member:
        weight = body.get("weight", 100)
        if not self.integer(weight, 0, MAX_WEIGHT, f"{where}.weight"):
            weight = 100
        priority = body.get("priority", 0)
        if not self.integer(priority, 0, MAX_PRIORITY, f"{where}.priority"):
            priority = 0
        state = self.enum(AdminState, body.get("state", "enabled"), f"{where}.state") or AdminState.ENABLED
        override = body.get("override")
        if override is not None:
            override = self.enum(HealthOverride, override, f"{where}.override")
        check_overrides = self.check_overrides(body, where, pool)
        return Member(site, address, weight, priority, state, check_overrides, override)

    def member_address(self, value: Any, kind: PoolKind, where: str) -> str | None:
        if not isinstance(value, str):
            self.problem(
                where, "required: " + ("an IP address" if kind == PoolKind.ADDRESS else "a host name")
            )
            return None
        if kind == PoolKind.ADDRESS:
            try:
                address = ipaddress.ip_address(value)
            except ValueError:
                self.problem(where, f"{value!r} is not an IPv4 or IPv6 address")
                return None
            if isinstance(address, ipaddress.IPv6Address) and address.scope_id is not None:
                # An AAAA record has no room for a scope: the answer could not even be built.
                self.problem(where, f"{value!r} has a scope (%...), which a DNS answer cannot carry")
                return None
            return str(address)
        try:
            return dns.name.from_text(value).canonicalize().to_text()
        except dns.exception.DNSException as exc:
            self.problem(where, f"{value!r} is not a host name: {exc}")
            return None

    def read_check(self, name: str, body: dict[str, Any]) -> None:
        where = f"checks.{name}"
        if name in self.checks:
            self.problem(where, f"also declared in {self.checks[name][1]}")
            return
        if "type" not in body:
            self.problem(f"{where}.type", f"required: one of {', '.join(t.value for t in CheckType)}")
            return
        check_type = self.enum(CheckType, body["type"], f"{where}.type")
        if check_type is None:
            return
        allowed = CHECK_KEYS[check_type]
        for key in sorted(set(body) - allowed - {"type"}):
            if key in ALL_CHECK_KEYS:
                users = ", ".join(t.value for t in CheckType if key in CHECK_KEYS[t])
                self.problem(f"{where}.{key}", f"not for a {check_type.value} check (only {users})")
            else:
                self.problem(f"{where}.{key}", f"unknown field (known: {', '.join(sorted(ALL_CHECK_KEYS))})")
        body = {k: v for k, v in body.items() if k in allowed}
        port = body.get("port")
        if port is not None and not self.integer(port, 1, 65535, f"{where}.port"):
            port = None
        if check_type is CheckType.TCP and "port" not in body:
            self.problem(f"{where}.port", "required for a tcp check")
        method = body.get("method", "GET")
        if not isinstance(method, str) or not (method.isascii() and method.isalpha() and method.isupper()):
            self.problem(f"{where}.method", f"must be an HTTP method in capitals, like GET, got {method!r}")
            method = "GET"
        path = self.text(body, "path", where) or "/"
        if not path.startswith("/") or any(c.isspace() for c in path):
            self.problem(f"{where}.path", f"must start with '/' and contain no spaces, got {path!r}")
        check = Check(
            name,
            check_type,
            port=port,
            method=method,
            path=path,
            host=self.text(body, "host", where),
            expect=self.expect(body.get("expect"), f"{where}.expect"),
            body=self.text(body, "body", where),
            sni=self.text(body, "sni", where),
            verify_tls=self.boolean(body, "verify_tls", where, default=True),
            interval=self.number(body, "interval", where, DEFAULT_INTERVAL, MIN_INTERVAL, MAX_INTERVAL),
            timeout=self.number(body, "timeout", where, DEFAULT_TIMEOUT, 0.0, MAX_INTERVAL, low_open=True),
            rise=self.count(body, "rise", where, DEFAULT_RISE),
            fall=self.count(body, "fall", where, DEFAULT_FALL),
            jitter=self.number(body, "jitter", where, DEFAULT_JITTER, 0.0, 1.0, high_open=True),
        )
        if check.timeout >= check.interval and {"interval", "timeout"} & set(body):
            self.problem(
                f"{where}.timeout",
                f"{check.timeout:g} s must be less than the interval, {check.interval:g} s",
            )
        self.checks[name] = (check, self.path)

    def check_overrides(self, body: Mapping[str, Any], where: str, pool: str) -> CheckOverrides:
        """A pool's or a member's ``check = { ... }``: checked against the check in ``finish``."""
        value = body.get("check")
        if value is None:
            return CheckOverrides()
        where = f"{where}.check"
        if not isinstance(value, dict):
            self.problem(where, f"must be a table of {', '.join(sorted(OVERRIDE_KEYS))}")
            return CheckOverrides()
        self.unknown_keys(value, OVERRIDE_KEYS, where)
        port = value.get("port")
        if port is not None and not self.integer(port, 1, 65535, f"{where}.port"):
            port = None
        present = {k for k in OVERRIDE_KEYS if k in value}

        def number(key: str, low: float, low_open: bool = False) -> float | None:
            if key not in present:
                return None
            result: float | None = self.number(value, key, where, None, low, MAX_INTERVAL, low_open=low_open)
            return result

        overrides = CheckOverrides(
            port=port,
            interval=number("interval", MIN_INTERVAL),
            timeout=number("timeout", 0.0, low_open=True),
            rise=self.count(value, "rise", where, None) if "rise" in present else None,
            fall=self.count(value, "fall", where, None) if "fall" in present else None,
        )
        self.override_references.append((self.path, where, pool, overrides))
        return overrides

    def expect(self, value: Any, where: str) -> tuple[tuple[int, int], ...]:
        """``[200, "2xx", "200-299"]``: a status, a class of statuses, an inclusive range."""
        if value is None:
            return DEFAULT_EXPECT
        if not isinstance(value, list) or not value:
            self.problem(where, 'must be a non-empty list of statuses: 200, "2xx" or "200-299"')
            return DEFAULT_EXPECT
        ranges = []
        for index, item in enumerate(value):
            status_range = _status_range(item)
            if status_range is None:
                self.problem(
                    f"{where}[{index}]", f'{item!r} is not a status 100-599, "2xx" or a range "200-299"'
                )
            else:
                ranges.append(status_range)
        return tuple(ranges) or DEFAULT_EXPECT

    def text(self, body: Mapping[str, Any], key: str, where: str) -> str | None:
        value = body.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not value:
            self.problem(f"{where}.{key}", "must be a non-empty string")
            return None
        if len(value) > MAX_TEXT:
            self.problem(f"{where}.{key}", f"longer than {MAX_TEXT} characters")
            return None
        return value

    def boolean(self, body: Mapping[str, Any], key: str, where: str, default: bool) -> bool:
        value = body.get(key, default)
        if not isinstance(value, bool):
            self.problem(f"{where}.{key}", f"must be true or false, got {value!r}")
            return default
        return value

    def number(
        self,
        body: Mapping[str, Any],
        key: str,
        where: str,
        default: Any,
        low: float,
        high: float,
        *,
        low_open: bool = False,
        high_open: bool = False,
    ) -> Any:
        """A float or an integer within [low, high] (open ends excluded); ``default`` if bad or absent."""
        value = body.get(key, default)
        if value is default:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            self.problem(f"{where}.{key}", f"must be a number, got {value!r}")
            return default
        too_low = value <= low if low_open else value < low
        too_high = value >= high if high_open else value > high
        if too_low or too_high:
            span = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
            self.problem(f"{where}.{key}", f"{value:g} is outside {span}")
            return default
        return float(value)

    def count(self, body: Mapping[str, Any], key: str, where: str, default: Any) -> Any:
        value = body.get(key, default)
        if value is default:
            return default
        return value if self.integer(value, 1, MAX_RESULTS, f"{where}.{key}") else default

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
        self.check_references()
        if self.problems:
            raise DeclarationError(self.problems)
        return Inventory(
            sites=tuple(site for site, _ in self.sites.values()),
            pools=tuple(pool for pool, _ in self.pools.values()),
            checks=tuple(check for check, _ in self.checks.values()),
        ).normalized()

    def check_references(self) -> None:
        """Checks named by pools exist, and overrides fit the check they change."""
        for name, (pool, path) in sorted(self.pools.items()):
            self.path = path
            if pool.health_check is not None and pool.health_check not in self.checks:
                self.problem(f"pools.{name}.health_check", f"unknown check {pool.health_check!r}")
        for path, where, pool_name, overrides in self.override_references:
            self.path = path
            if pool_name not in self.pools or overrides.empty:
                continue
            pool = self.pools[pool_name][0]
            if pool.health_check is None:
                self.problem(where, "only meaningful with health_check")
                continue
            if pool.health_check not in self.checks:
                continue  # reported above
            check = self.checks[pool.health_check][0]
            if not check.type.probed:
                probe_fields = [
                    k for k in ("port", "interval", "timeout") if getattr(overrides, k) is not None
                ]
                for key in probe_fields:
                    self.problem(f"{where}.{key}", f"check {check.name!r} is passive: nothing to probe")
                continue
            # The member's values on top of the pool's, or the pool's alone for the pool itself.
            effective = overrides.applied_to(pool.check_overrides.applied_to(check))
            if effective.timeout >= effective.interval:
                self.problem(
                    where,
                    f"timeout {effective.timeout:g} s must be less than the interval, "
                    f"{effective.interval:g} s (check {check.name!r} with the overrides)",
                )

    def fallback_loops(self, start: str) -> bool:
        seen = {start}
        current = self.pools[start][0].fallback
        while current is not None and current in self.pools:
            if current in seen:
                return True
            seen.add(current)
            current = self.pools[current][0].fallback
        return False


def _status_range(item: Any) -> tuple[int, int] | None:
    """One ``expect`` entry as an inclusive range of HTTP statuses; None if it is not one."""
    if isinstance(item, int) and not isinstance(item, bool):
        low = high = item
    elif isinstance(item, str) and len(item) == 3 and _ascii_digits(item[0]) and item[1:].lower() == "xx":
        low, high = int(item[0]) * 100, int(item[0]) * 100 + 99
    elif isinstance(item, str) and item.count("-") == 1:
        first, _, last = (part.strip() for part in item.partition("-"))
        if not (_ascii_digits(first) and _ascii_digits(last)):
            return None
        low, high = int(first), int(last)
    else:
        return None
    return (low, high) if 100 <= low <= high <= 599 else None


def _ascii_digits(text: str) -> bool:
    """0-9 only: ``str.isdigit`` also takes digits ``int`` cannot read, like superscript two."""
    return text.isascii() and text.isdigit()


def valid_object_name(name: str) -> bool:
    """A site's, check's or pool's name: what a file's table key and an API URL may hold."""
    return (
        0 < len(name) <= 63
        and all(c.isascii() and (c.isalnum() or c in "-_") for c in name)
        and name == name.lower()
    )
