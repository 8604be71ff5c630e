"""The immutable, precomputed view that every DNS query is answered from.

Built off the hot path whenever zones (and later the store) change, then swapped in whole by
one reference assignment, so a responder never sees half an update and never takes a lock.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Set
from dataclasses import dataclass, field, replace

import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from gslb.dns.authority import AAAA, CNAME, A, Catalog, Resolution, resolve
from gslb.dns.negative import NegativeZone
from gslb.dns.plain import PlainRecords, name_key, rdtype_of
from gslb.dns.render import PLAIN_TYPES, Answer, plain_answer, render, render_plain
from gslb.dns.zonefile import LoadedZone
from gslb.model import DEFAULT_TTL_BOUNDS, Inventory, Pool, TtlBounds
from gslb.snapshot import ttl
from gslb.snapshot.pools import (
    CNAME_POOL_TYPES,
    PoolAnswer,
    PoolCompiler,
    down_by_pool,
    fallback_chain,
    owner_name,
    pool_rrsets,
)

CLASS_IN = dns.rdataclass.IN
log = logging.getLogger("gslb.snapshot")

# Types chased through a CNAME ahead of time: the ones clients actually ask for.
PRECOMPUTED_CHASE_TYPES = (A, AAAA)
# Types a pool's placeholder RRsets have (pool_rrsets) and every type a pool may answer.
PLACEHOLDER_TYPES: frozenset[int] = frozenset({A, AAAA, CNAME})
POOL_TYPES: frozenset[int] = frozenset({A, AAAA, *CNAME_POOL_TYPES})

Question = tuple[dns.name.Name, int]
PoolLookup = Callable[[dns.name.Name, int], PoolAnswer | None]


@dataclass(frozen=True, slots=True)
class ZoneInfo:
    """What operators see of a served zone."""

    origin: str
    serial: int
    path: str
    records: int


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything the responder reads. Never mutated after ``build`` or ``update`` returns."""

    catalog: Catalog
    # Question wire (name lower-cased) → answer, in two layers that the responder reads in this
    # order: ``dynamic`` holds what pools and health change (pool names, static answers that show
    # them), ``answers`` everything else; an update copies the small layer, never the large one.
    answers: dict[bytes, Answer | PoolAnswer]
    negative: dict[bytes, NegativeZone]  # lower-cased apex wire → NXDOMAIN/NODATA template
    zones: tuple[ZoneInfo, ...]
    inventory: Inventory = field(default_factory=Inventory)
    revision: int = 0  # the store revision this snapshot reflects
    built_at: float = field(default_factory=time.time)
    build_seconds: float = 0.0
    dynamic: dict[bytes, Answer | PoolAnswer] = field(default_factory=dict)
    # What an incremental update needs, kept from the full build (never read by the responder):
    pools: Mapping[str, Pool] = field(default_factory=dict, repr=False)  # declared (TTL-bounded) pools
    down: frozenset[tuple[str, str]] = frozenset()
    unsettled: frozenset[str] = frozenset()  # pools with a checked member not settled (gslb/snapshot/ttl.py)
    # The pools as answered now (served TTL, draining members still in), and when each one's
    # drain moves on by itself: the follower updates them then.
    served: Mapping[str, Pool] = field(default_factory=dict, repr=False)
    deadlines: Mapping[str, float] = field(default_factory=dict, repr=False)
    dependents: Mapping[dns.name.Name, tuple[Question, ...]] = field(default_factory=dict, repr=False)
    fallback_users: Mapping[str, frozenset[str]] = field(default_factory=dict, repr=False)


def question_key(qname: dns.name.Name, qtype: int, qclass: int = CLASS_IN) -> bytes:
    """The lookup key the responder computes from a query: the name lower-cased, QTYPE and QCLASS as sent."""
    wire = qname.to_wire()
    assert wire is not None  # with no file given, to_wire returns the bytes
    return wire.lower() + qtype.to_bytes(2, "big") + qclass.to_bytes(2, "big")


def build(
    zones: Iterable[LoadedZone],
    inventory: Inventory | None = None,
    revision: int = 0,
    rng: random.Random | None = None,
    down: Set[tuple[str, str]] = frozenset(),
    ttl_bounds: TtlBounds = DEFAULT_TTL_BOUNDS,
    compiler: PoolCompiler | None = None,
    unsettled: Set[str] = frozenset(),
    now: float | None = None,
) -> Snapshot:
    """Index the zones and pools and render every question whose answer is known ahead of time.

    ``down`` holds the (pool, member address) pairs whose health checks fail, ``unsettled``
    the pools whose checks cannot promise a long TTL now; ``now`` (wall clock) places drains.
    """
    started = time.perf_counter()
    zones = list(zones)
    inventory = _bounded_ttls(inventory or Inventory(), *ttl_bounds)
    by_name = {pool.name: pool for pool in inventory.pools}
    down = frozenset(down)
    unsettled = frozenset(unsettled)
    served, deadlines = _served(
        inventory.pools, inventory, ttl_bounds.floor, unsettled, time.time() if now is None else now
    )
    catalog = Catalog.from_zones((z.zone for z in zones), pool_rrsets(inventory))
    compiled = (compiler or PoolCompiler(rng)).compile(
        replace(inventory, pools=tuple(served.values())), catalog, down, pools=served
    )
    pools = compiled  # keyed by canonical owners (owner_name)
    pool_owners = {owner_name(text) for pool in inventory.pools for text in pool.names}

    def pool_lookup(owner: dns.name.Name, qtype: int) -> PoolAnswer | None:
        return pools.get((owner, qtype))

    answers: dict[bytes, Answer | PoolAnswer] = {}
    dynamic: dict[bytes, Answer | PoolAnswer] = {}
    dependents: dict[dns.name.Name, list[Question]] = {}
    pool_keys = {name_key(owner) for owner in pool_owners}
    negative: dict[bytes, NegativeZone] = {}
    for data in catalog.zones.values():
        types: dict[bytes, frozenset[int]] = {}  # for the negative answers, made in the same pass
        shared: dict[frozenset[int], frozenset[int]] = {}  # a million owners, a handful of type sets
        for owner, by_type in data.owners(plain=False):
            raw = owner.to_wire()
            assert raw is not None
            owner_key = raw.lower()
            present = frozenset(by_type)
            types[owner_key] = shared.setdefault(present, present)
            if owner.labels and owner.labels[0] == b"*":
                continue  # a wildcard owner asked literally is rare; the slow path answers it
            qname = owner if raw == owner_key else owner.canonicalize()
            below_cut = bool(data.cuts) and data.cut_at_or_above(owner) is not None
            at_pool = owner_key in pool_keys
            for qtype in _precomputed_types(by_type):
                if at_pool and qtype in POOL_TYPES:
                    continue  # the pool answers it (or, where it has no such members, nobody ahead of time)
                key = owner_key + _TYPE_KEYS[qtype]
                rrset = by_type.get(qtype)
                if rrset is not None and qtype in PLAIN_TYPES and not below_cut:
                    answers[key] = render_plain(rrset)  # most records of a large zone: no rules apply
                    continue
                resolution = resolve(catalog, qname, qtype)
                answer = _static_answer(qname, qtype, resolution, pool_lookup)
                used = _pool_names_used(resolution, pool_owners) if pool_owners and not at_pool else set()
                (dynamic if used else answers)[key] = answer
                for name in used:
                    dependents.setdefault(name, []).append((qname, qtype))
        _plain_answers(data.plain, pool_keys, answers, types, shared)
        zone_negative = NegativeZone.from_zone(data, types)
        negative[zone_negative.apex] = zone_negative
    for (owner, qtype), pool_answer in pools.items():
        dynamic[question_key(owner, qtype)] = pool_answer
    infos = tuple(ZoneInfo(z.origin.to_text(), z.serial, str(z.path), z.records) for z in zones)
    return Snapshot(
        catalog,
        answers,
        negative,
        infos,
        inventory,
        revision,
        build_seconds=time.perf_counter() - started,
        dynamic=dynamic,
        pools=by_name,
        down=down,
        unsettled=unsettled,
        served=served,
        deadlines=deadlines,
        dependents={owner: tuple(questions) for owner, questions in dependents.items()},
        fallback_users=_fallback_users(by_name),
    )


def update(
    old: Snapshot,
    changed: Mapping[str, Pool | None],
    revision: int,
    down: Set[tuple[str, str]] | None = None,
    ttl_bounds: TtlBounds = DEFAULT_TTL_BOUNDS,
    compiler: PoolCompiler | None = None,
    unsettled: Set[str] | None = None,
    now: float | None = None,
) -> Snapshot | None:
    """``old`` with the ``changed`` pools and the new health, touching only what they reach.

    Recompiles the changed pools, the pools whose all-down fallback leads to them, and the static
    answers that name them (a CNAME into a pool, an MX or SRV target's addresses); copies the
    answer table and the zones holding those names, and shares everything else with ``old``.
    None when the change alters which names exist or where fallbacks lead (a pool created,
    deleted, renamed, emptied, or re-pointed): a full ``build`` handles that.
    """
    started = time.perf_counter()
    now = time.time() if now is None else now
    down = old.down if down is None else frozenset(down)
    unsettled = old.unsettled if unsettled is None else frozenset(unsettled)
    new_pools: dict[str, Pool] = {}
    for name, written in changed.items():
        before = old.pools.get(name)
        if written is None or before is None:
            return None
        pool = _bounded_ttls(Inventory(pools=(written,)), *ttl_bounds).pools[0]
        if _shape(pool) != _shape(before):
            return None
        new_pools[name] = pool
    catalog = _with_placeholders(old.catalog, pool_rrsets(Inventory(pools=tuple(new_pools.values()))))
    if catalog is None:
        return None
    down_before, down_now = down_by_pool(old.down), down_by_pool(down)
    sick = {
        name for name in down_before.keys() | down_now.keys() if down_before.get(name) != down_now.get(name)
    }
    due = {name for name, deadline in old.deadlines.items() if deadline <= now}
    affected = {
        name for name in new_pools.keys() | sick | (unsettled ^ old.unsettled) | due if name in old.pools
    }
    for name in list(affected):
        affected |= old.fallback_users.get(name, frozenset())
    pools = {**old.pools, **new_pools}
    # ``pools`` keeps the inventory's order (a full build makes it so; an update only replaces).
    inventory = replace(old.inventory, pools=tuple(pools.values()))
    served = dict(old.served)
    deadlines = {name: deadline for name, deadline in old.deadlines.items() if name not in affected}
    fresh, fresh_deadlines = _served(
        (pools[name] for name in affected), inventory, ttl_bounds.floor, unsettled, now
    )
    served.update(fresh)
    deadlines.update(fresh_deadlines)
    compiled = (compiler or PoolCompiler()).compile(inventory, catalog, down, only=affected, pools=served)
    answers = dict(old.dynamic)
    owners: set[dns.name.Name] = set()
    for name in affected:
        for text in pools[name].names:
            owner = owner_name(text)
            owners.add(owner)
            for qtype in POOL_TYPES:
                key = question_key(owner, qtype)
                answer = compiled.get((owner, qtype))
                if answer is not None:
                    answers[key] = answer
                elif isinstance(answers.get(key), PoolAnswer):
                    del answers[key]  # e.g. the last IPv6 member left: the general rules say NODATA

    def pool_answer(owner: dns.name.Name, qtype: int) -> PoolAnswer | None:
        found = answers.get(question_key(owner, qtype))
        return found if isinstance(found, PoolAnswer) else None

    for owner in owners:
        for qname, qtype in old.dependents.get(owner, ()):
            resolution = resolve(catalog, qname, qtype)
            answers[question_key(qname, qtype)] = _static_answer(qname, qtype, resolution, pool_answer)
    return replace(
        old,
        catalog=catalog,
        dynamic=answers,
        inventory=inventory,
        revision=revision,
        built_at=time.time(),
        build_seconds=time.perf_counter() - started,
        pools=pools,
        down=down,
        unsettled=unsettled,
        served=served,
        deadlines=deadlines,
    )


def _served(
    pools: Iterable[Pool], inventory: Inventory, floor: int, unsettled: frozenset[str], now: float
) -> tuple[dict[str, Pool], dict[str, float]]:
    """The pools as answered at ``now`` (gslb/snapshot/ttl.py), and the deadlines of those still draining."""
    checks = {check.name: check for check in inventory.checks}
    served: dict[str, Pool] = {}
    deadlines: dict[str, float] = {}
    for pool in pools:
        if pool.health_check is None and all(m.drained_at is None for m in pool.members):
            served[pool.name] = pool  # most pools of a large node: nothing watches or drains them
            continue
        how = ttl.served(pool, checks, floor, pool.name in unsettled, now)
        served[pool.name] = ttl.as_served(pool, how)
        if how.until is not None:
            deadlines[pool.name] = how.until
    return served, deadlines


def _shape(pool: Pool) -> tuple[object, ...]:
    """What a pool's change must keep for ``update``: the names it makes exist, where it falls back."""
    return (pool.names, pool.kind, pool.all_down, pool.fallback)


def _static_answer(
    qname: dns.name.Name, qtype: int, resolution: Resolution, pool_answer: PoolLookup
) -> Answer | PoolAnswer:
    """The rendered answer, or the pool's answers behind a static CNAME chain that ends at a pool."""
    chain = _cnames(resolution)
    if chain and qtype != CNAME:
        target: dns.name.Name = chain[-1][0].target
        into_pool = pool_answer(target.canonicalize(), qtype)
        if into_pool is not None:
            return into_pool.behind(qname, qtype, chain)
    return render(qname, qtype, CLASS_IN, resolution)


def _pool_names_used(resolution: Resolution, pool_owners: Set[dns.name.Name]) -> set[dns.name.Name]:
    """Pool names whose records an answer shows: it must be rendered again when they change."""
    return {rrset.name for rrset in resolution.answer + resolution.additional if rrset.name in pool_owners}


def _with_placeholders(
    catalog: Catalog, placeholders: Mapping[dns.name.Name, list[dns.rrset.RRset]]
) -> Catalog | None:
    """The catalog with these pool names' placeholder RRsets replaced (copy on write, per zone).

    None when a name would start or stop existing: names and empty non-terminals would change.
    """
    tables: dict[dns.name.Name, dict[dns.name.Name, dict[int, dns.rrset.RRset]]] = {}
    for owner, rrsets in placeholders.items():
        zone = catalog.find(owner)
        if zone is None:
            continue  # outside every zone: never served (the compiler warns)
        if not rrsets or owner not in zone.pools:
            return None
        table = tables.get(zone.origin)
        if table is None:
            table = tables[zone.origin] = dict(zone.pools)
        by_type: dict[int, dns.rrset.RRset] = {
            rdtype: rrset for rdtype, rrset in table[owner].items() if rdtype not in PLACEHOLDER_TYPES
        }
        by_type.update((rrset.rdtype, rrset) for rrset in rrsets)
        table[owner] = by_type
    zones = dict(catalog.zones)
    for origin, table in tables.items():
        zones[origin] = replace(zones[origin], pools=table)
    return Catalog(zones)


def _fallback_users(pools: Mapping[str, Pool]) -> dict[str, frozenset[str]]:
    """For each pool, the pools whose all-down fallback chain passes through it."""
    users: dict[str, set[str]] = {}
    for pool in pools.values():
        for link in fallback_chain(pool, pools)[1:]:
            users.setdefault(link.name, set()).add(pool.name)
    return {name: frozenset(names) for name, names in users.items()}


def _bounded_ttls(inventory: Inventory, floor: int, ceiling: int) -> Inventory:
    """Pools with their TTL kept within the server's bounds (``pool_ttl_floor``/``_ceiling``)."""
    pools = []
    for pool in inventory.pools:
        kept = ttl.bounded(pool, floor, ceiling)
        if kept is not pool:
            log.warning(
                "pool TTL outside the server's bounds; using the bound",
                extra={"pool": pool.name, "declared": pool.ttl, "served": kept.ttl},
            )
        pools.append(kept)
    return replace(inventory, pools=tuple(pools))


def _cnames(resolution: Resolution) -> tuple[dns.rrset.RRset, ...]:
    """The leading CNAMEs of an answer: the chain from the query name to its final name."""
    chain = []
    for rrset in resolution.answer:
        if rrset.rdtype != CNAME:
            break
        chain.append(rrset)
    return tuple(chain)


def _plain_answers(
    plain: PlainRecords,
    pool_keys: Set[bytes],
    answers: dict[bytes, Answer | PoolAnswer],
    types: dict[bytes, frozenset[int]],
    shared: dict[frozenset[int], frozenset[int]],
) -> None:
    """The plain owners' answers (gslb/dns/plain.py), each RRset's wire the body of the answer
    that asks for it by its owner's name, and their types for the negative answers."""
    alone: dict[bytes, frozenset[int]] = {}  # a type's key bytes → the set of that type alone
    for owner_key, entry in plain.owners.items():
        if owner_key in pool_keys:
            continue  # a pool's name: owners() gave it, with the pool's records beside these
        if len(entry) == 2:  # one type: most owners
            wire = entry[1]
            type_key = wire[2:6]  # the question's type and class
            present = alone.get(type_key)
            if present is None:
                present = alone[type_key] = frozenset((rdtype_of(wire),))
            answers[owner_key + type_key] = plain_answer(wire)
        else:
            present = frozenset(rdtype_of(wire) for wire in entry[1:])
            for wire in entry[1:]:
                answers[owner_key + wire[2:6]] = plain_answer(wire)
        types[owner_key] = shared.setdefault(present, present)


def _precomputed_types(by_type: dict[int, dns.rrset.RRset]) -> Iterator[int]:
    yield from by_type
    if CNAME in by_type:
        yield from PRECOMPUTED_CHASE_TYPES
    if dns.rdatatype.SOA in by_type:
        # The apex NODATA for the address types: a common question (e.g. www-less zones).
        for rdtype in (A, AAAA):
            if rdtype not in by_type:
                yield rdtype


class _TypeKeys(dict[int, bytes]):
    """QTYPE + QCLASS IN as key bytes, made once per type."""

    def __missing__(self, rdtype: int) -> bytes:
        key = self[rdtype] = rdtype.to_bytes(2, "big") + CLASS_IN.to_bytes(2, "big")
        return key


_TYPE_KEYS = _TypeKeys()
