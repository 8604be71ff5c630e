"""The API's JSON for sites, checks, pools and members: the declaration format of ``zones/*.toml``.

An operator sees one format everywhere: a ``[pools.www]`` table of a file, as JSON with its
``name`` added, is what ``GET /api/v1/pools/www`` returns and what ``PUT`` takes, so a GET
round-trips through a PUT unchanged. Optional fields left unset are JSON null (TOML has no null;
the reader takes null as "left out"). Request bodies are read by gslb/declare/reader.py, so the API and
the files share every rule, and every problem is reported with its path inside the object
(``members[1].address``). The ETag of an object is a hash of this document, so it changes
exactly when something an operator can see changes.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

import dns.exception
import dns.name

from gslb.api.problems import FieldProblem, invalid
from gslb.declare import reader as declare
from gslb.errors import ConflictError, InvalidError, ObjectError, StoreError, ValidationError
from gslb.model import OVERRIDABLE, Check, CheckOverrides, Inventory, Member, Pool, PoolKind, Site

Document = dict[str, Any]
T = TypeVar("T")

# The store's field names where the declaration format has another.
_STORE_FIELDS = {"check_overrides": "check"}


def site_document(site: Site) -> Document:
    return {
        "name": site.name,
        "region": site.region,
        "description": site.description,
        "subnets": [str(n) for n in site.subnets],
        "lvs_mode": site.lvs_mode.value if site.lvs_mode is not None else None,
        "vips": [str(a) for a in site.vips],
    }


def check_document(check: Check) -> Document:
    """The check's type and the fields of that type (a field of another type would be refused)."""
    values: Document = {
        "port": check.port,
        "method": check.method,
        "path": check.path,
        "host": check.host,
        "expect": [_status_text(low, high) for low, high in check.expect],
        "body": check.body,
        "sni": check.sni,
        "verify_tls": check.verify_tls,
        "interval": check.interval,
        "timeout": check.timeout,
        "rise": check.rise,
        "fall": check.fall,
        "jitter": check.jitter,
    }
    allowed = declare.CHECK_KEYS[check.type]
    return {"name": check.name, "type": check.type.value, **{k: v for k, v in values.items() if k in allowed}}


def pool_document(pool: Pool) -> Document:
    return {
        "name": pool.name,
        "names": list(pool.names),
        "kind": pool.kind.value,
        "policy": pool.policy.value,
        "answer_count": pool.answer_count,
        "ttl": pool.ttl,
        "all_down": pool.all_down.value,
        "fallback": pool.fallback,
        "health_check": pool.health_check,
        "check": _overrides_document(pool.check_overrides),
        "site_order": list(pool.site_order),
        "members": [member_document(m) for m in pool.members],
    }


def member_document(member: Member) -> Document:
    return {
        "site": member.site,
        "address": member.address,
        "weight": member.weight,
        "priority": member.priority,
        "state": member.state.value,
        "override": member.override.value if member.override is not None else None,
        "check": _overrides_document(member.check_overrides),
    }


def etag(document: Document) -> str:
    """A strong entity tag (quoted) of a representation: equal documents, equal tags."""
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"))
    return f'"{hashlib.sha256(canonical.encode()).hexdigest()[:32]}"'


def _overrides_document(overrides: CheckOverrides) -> Document | None:
    if overrides.empty:
        return None
    return {name: getattr(overrides, name) for name in OVERRIDABLE}


def _status_text(low: int, high: int) -> int | str:
    """An ``expect`` range in its shortest declaration form: 200, "2xx" or "200-250"."""
    if low == high:
        return low
    if low % 100 == 0 and high == low + 99:
        return f"{low // 100}xx"
    return f"{low}-{high}"


# Request bodies → values


def decode_site(name: str, body: Mapping[str, Any]) -> Site:
    return _decode(name, body, lambda b: declare.read_site(name, b))


def decode_check(name: str, body: Mapping[str, Any]) -> Check:
    return _decode(name, body, lambda b: declare.read_check(name, b))


def decode_pool(
    name: str, body: Mapping[str, Any], zone_origins: Iterable[str], static_names: Mapping[str, str]
) -> Pool:
    """The pool of ``body``, its members in the body's order (``member_fields`` relies on it)."""
    return _decode(name, body, lambda b: declare.read_pool(name, b, zone_origins, static_names))


def decode_member(pool: Pool, address: str | None, body: Mapping[str, Any]) -> Member:
    """The member of ``body`` for ``pool``; ``address`` is the URL's, the body's must equal it."""
    problems: list[FieldProblem] = []
    if address is not None:
        given = body.get("address")
        wanted = canonical_address(pool.kind, address)
        if given is None:
            body = {**body, "address": address}
        elif isinstance(given, str) and canonical_address(pool.kind, given) != wanted:
            problems.append(FieldProblem("address", f"must be {wanted}, the address in the URL, or left out"))
    try:
        member = declare.read_member(pool, body)
    except declare.DeclarationError as exc:
        raise invalid([*problems, *(_field_problem(p) for p in exc.problems)]) from exc
    if problems:
        raise invalid(problems)
    return member


def canonical_address(kind: PoolKind, text: str) -> str:
    """A member address as the store keeps it (``2001:DB8::1`` → ``2001:db8::1``); else as given."""
    try:
        if kind is PoolKind.ADDRESS:
            return str(ipaddress.ip_address(text))
        return dns.name.from_text(text).canonicalize().to_text()
    except (ValueError, dns.exception.DNSException):
        return text


def normalized(pool: Pool) -> Pool:
    """The pool as the store gives it back (names and members sorted)."""
    return Inventory(pools=(pool,)).normalized().pools[0]


def _decode(name: str, body: Mapping[str, Any], read: Callable[[Mapping[str, Any]], T]) -> T:
    problems: list[FieldProblem] = []
    if body.get("name") is not None and body["name"] != name:  # null: left out
        problems.append(FieldProblem("name", f"must be {name!r}, the name in the URL, or left out"))
    try:
        value = read({k: v for k, v in body.items() if k != "name"})
    except declare.DeclarationError as exc:
        raise invalid([*problems, *(_field_problem(p) for p in exc.problems)]) from exc
    if problems:
        raise invalid(problems)
    return value


def _field_problem(problem: declare.Problem) -> FieldProblem:
    return FieldProblem(problem.where, problem.message)


# Store refusals → fields of the request's document


def member_fields(pool: Pool | None) -> Callable[[StoreError], StoreError]:
    """What a store refusal of a write of ``pool`` (None: of one member) names, as fields of the
    request's document: ``members[2].site`` for a pool, ``site`` for a member, ``check`` where the
    store says ``check_overrides``. A name another pool has is a bad field (422), not a conflict.
    """
    index = {m.address: i for i, m in enumerate(pool.members)} if pool is not None else {}

    def field(problem: ObjectError) -> str | None:
        name = _STORE_FIELDS.get(problem.field or "", problem.field)
        if problem.object_type != "member" or pool is None:
            return name
        address = problem.object_name.partition("/")[2]
        if address not in index:
            return name
        return f"members[{index[address]}]" + (f".{name}" if name else "")

    def relabel(problem: ObjectError) -> InvalidError:
        return InvalidError(problem.object_type, problem.object_name, problem.detail, field(problem))

    def translate(exc: StoreError) -> StoreError:
        if isinstance(exc, ValidationError):
            return ValidationError([relabel(p) for p in exc.problems])
        if isinstance(exc, InvalidError) or (isinstance(exc, ConflictError) and exc.field == "names"):
            return relabel(exc)
        return exc

    return translate
