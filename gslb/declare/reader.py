"""Sites, pools and health checks declared in TOML files next to the zone files, read into an Inventory.

Operators edit these by hand and review them in change requests, so every problem in every
file is collected and reported at once, each with its file, object and field
(``zones/pools.toml: pools.www.members[1].address: ...``), and nothing is applied until all
are fixed (octoDNS-style validation). The admin API reads one object at a time by the same
rules (``read_site``, ``read_check``, ``read_pool``, ``read_member``), so both refuse alike.

One module per object kind reads its tables (sites, checks, pools, members), with the field
readers of ``fields``; the rules between objects are ``references``'.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import dns.name

from gslb.declare import checks, fields, members, pools, sites
from gslb.declare.checks import ALL_CHECK_KEYS, CHECK_KEYS, MAX_INTERVAL, MIN_INTERVAL
from gslb.declare.fields import MAX_RESULTS, MAX_TEXT, valid_object_name
from gslb.declare.members import MAX_PRIORITY, MEMBER_KEYS
from gslb.declare.pools import MAX_ANSWER_COUNT, MAX_TTL, MIN_TTL, POOL_KEYS, Served
from gslb.declare.problems import DeclarationError, Problem, Problems
from gslb.declare.references import Declared, References, check_references
from gslb.declare.sites import SITE_KEYS
from gslb.model import Check, Inventory, Member, Pool, Site

__all__ = [
    "ALL_CHECK_KEYS",
    "CHECK_KEYS",
    "MAX_ANSWER_COUNT",
    "MAX_INTERVAL",
    "MAX_PRIORITY",
    "MAX_RESULTS",
    "MAX_TEXT",
    "MAX_TTL",
    "MIN_INTERVAL",
    "MIN_TTL",
    "DeclarationError",
    "Problem",
    "declaration_files",
    "read_check",
    "read_declarations",
    "read_member",
    "read_pool",
    "read_site",
    "valid_object_name",
]

DECLARATION_SUFFIX = ".toml"
SECTIONS = ("sites", "checks", "pools")
# What a null may stand for in an object the admin API receives: any field of its kind (a check's
# of any type, so a GET of one type can be PUT back as another with the rest left null).
NULLABLE_KEYS = {"sites": SITE_KEYS, "checks": ALL_CHECK_KEYS, "pools": POOL_KEYS}


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
    reader = _Reader(_served(zone_origins, static_names))
    for path in declaration_files(directory):
        reader.read_file(path)
    return reader.finish()


def read_site(name: str, body: Mapping[str, Any]) -> Site:
    """One site's table, as the admin API receives it (see ``read_pool``)."""
    reader = _Reader(_served((), {}))
    reader.read_one("sites", name, body, reader.read_site)
    return reader.sites[name][0]


def read_check(name: str, body: Mapping[str, Any]) -> Check:
    """One check's table, as the admin API receives it (see ``read_pool``)."""
    reader = _Reader(_served((), {}))
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
    reader = _Reader(_served(zone_origins, static_names))
    reader.read_one("pools", name, body, reader.read_pool)
    return reader.pools[name][0]


def read_member(pool: Pool, body: Mapping[str, Any]) -> Member:
    """One member's table for ``pool`` (its kind decides what an address is); see ``read_pool``."""
    problems, references = Problems(), References()
    where = "member"
    fields.stray_nulls(problems, body, MEMBER_KEYS, where)
    given = fields.present(body)
    fields.refuse_nul(problems, given, where)
    identity = members.member_identity(problems, references, given, where, pool.kind)
    member = (
        members.read_member(problems, references, given, where, pool.name, *identity)
        if identity is not None
        else None
    )
    problems.raise_relative(where)
    assert member is not None  # without an identity there is a problem
    return member


def _served(zone_origins: Iterable[str], static_names: Mapping[str, str]) -> Served:
    return Served(tuple(dns.name.from_text(o) for o in zone_origins), static_names)


class _Reader:
    """Every object read so far, by name and file, and what is wrong with any of them."""

    def __init__(self, served: Served) -> None:
        self.served = served
        self.problems = Problems()
        self.references = References()
        self.sites: dict[str, tuple[Site, Path]] = {}
        self.pools: dict[str, tuple[Pool, Path]] = {}
        self.checks: dict[str, tuple[Check, Path]] = {}

    def read_one(
        self, section: str, name: str, body: Mapping[str, Any], read: Callable[[str, dict[str, Any]], None]
    ) -> None:
        """Read one object's table outside any file; raise its problems relative to it."""
        if not valid_object_name(name):
            self.problems.add(f"{section}.{name}.name", "must be 1-63 characters of a-z, 0-9, '-' and '_'")
        fields.stray_nulls(self.problems, body, NULLABLE_KEYS[section], f"{section}.{name}")
        given = fields.present(body)
        fields.refuse_nul(self.problems, given, f"{section}.{name}")
        read(name, given)
        self.problems.raise_relative(f"{section}.{name}")

    def read_file(self, path: Path) -> None:
        self.problems.path = path
        try:
            document = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            self.problems.add("(file)", f"cannot read: {exc}")
            return
        except tomllib.TOMLDecodeError as exc:
            self.problems.add("(file)", f"invalid TOML: {exc}")
            return
        found = len(self.problems)
        fields.refuse_nul(self.problems, document, "")
        if len(self.problems) > found:
            return
        for key in sorted(set(document) - set(SECTIONS)):
            self.problems.add(key, "unknown section (expected [sites.NAME], [pools.NAME] or [checks.NAME])")
        for name, body in self.tables(document.get("sites", {}), "sites").items():
            self.read_site(name, body)
        for name, body in self.tables(document.get("checks", {}), "checks").items():
            self.read_check(name, body)
        for name, body in self.tables(document.get("pools", {}), "pools").items():
            self.read_pool(name, body)

    def tables(self, value: Any, where: str) -> dict[str, dict[str, Any]]:
        if not isinstance(value, dict):
            self.problems.add(where, "must be a table of named objects")
            return {}
        good = {}
        for name, body in value.items():
            if not isinstance(body, dict):
                self.problems.add(f"{where}.{name}", "must be a table")
            elif not valid_object_name(name):
                self.problems.add(f"{where}.{name}", "name must be 1-63 characters of a-z, 0-9, '-' and '_'")
            else:
                good[name] = body
        return good

    def read_site(self, name: str, body: dict[str, Any]) -> None:
        earlier = self.sites[name][1] if name in self.sites else None
        site = sites.read_site(self.problems, name, body, earlier)
        if site is not None:
            self.sites[name] = (site, self.problems.path)

    def read_check(self, name: str, body: dict[str, Any]) -> None:
        earlier = self.checks[name][1] if name in self.checks else None
        check = checks.read_check(self.problems, name, body, earlier)
        if check is not None:
            self.checks[name] = (check, self.problems.path)

    def read_pool(self, name: str, body: dict[str, Any]) -> None:
        earlier = self.pools[name][1] if name in self.pools else None
        pool = pools.read_pool(self.problems, self.references, self.served, name, body, earlier)
        if pool is not None:
            self.pools[name] = (pool, self.problems.path)

    def finish(self) -> Inventory:
        """Cross-object checks (sites exist, fallbacks resolve, names unique), then the Inventory."""
        check_references(self.problems, Declared(self.sites, self.pools, self.checks), self.references)
        self.problems.raise_all()
        return Inventory(
            sites=tuple(site for site, _ in self.sites.values()),
            pools=tuple(pool for pool, _ in self.pools.values()),
            checks=tuple(check for check, _ in self.checks.values()),
        ).normalized()
