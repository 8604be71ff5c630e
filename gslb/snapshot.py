"""The immutable, precomputed view that every DNS query is answered from.

Built off the hot path whenever zones (and later the store) change, then swapped in whole by
one reference assignment, so a responder never sees half an update and never takes a lock.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Iterable, Iterator, Set
from dataclasses import dataclass, field, replace

import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from gslb.dns.authority import AAAA, CNAME, A, Catalog, Resolution, ZoneData, resolve
from gslb.dns.negative import NegativeZone
from gslb.dns.pools import PoolAnswer, PoolCompiler, pool_rrsets
from gslb.dns.render import Answer, render
from gslb.model import Inventory
from gslb.zonefile import LoadedZone

CLASS_IN = dns.rdataclass.IN
log = logging.getLogger("gslb.snapshot")

# Types chased through a CNAME ahead of time: the ones clients actually ask for.
PRECOMPUTED_CHASE_TYPES = (A, AAAA)


@dataclass(frozen=True, slots=True)
class ZoneInfo:
    """What operators see of a served zone."""

    origin: str
    serial: int
    path: str
    records: int


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything the responder reads. Never mutated after ``build`` returns."""

    catalog: Catalog
    answers: dict[bytes, Answer | PoolAnswer]  # question wire, name lower-cased → answer
    negative: dict[bytes, NegativeZone]  # lower-cased apex wire → NXDOMAIN/NODATA template
    zones: tuple[ZoneInfo, ...]
    inventory: Inventory = field(default_factory=Inventory)
    revision: int = 0  # the store revision this snapshot reflects
    built_at: float = field(default_factory=time.time)
    build_seconds: float = 0.0


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
    unhealthy: Set[tuple[str, str]] = frozenset(),
    ttl_bounds: tuple[int, int] = (0, 86400),
    compiler: PoolCompiler | None = None,
) -> Snapshot:
    """Index the zones and pools and render every question whose answer is known ahead of time.

    ``unhealthy`` holds the (pool, member address) pairs whose health checks fail.
    """
    started = time.perf_counter()
    zones = list(zones)
    inventory = _bounded_ttls(inventory or Inventory(), *ttl_bounds)
    catalog = Catalog.from_zones((z.zone for z in zones), pool_rrsets(inventory))
    compiled = (compiler or PoolCompiler(rng)).compile(inventory, catalog, unhealthy)
    pools = {(owner.canonicalize(), qtype): answer for (owner, qtype), answer in compiled.items()}
    answers: dict[bytes, Answer | PoolAnswer] = {}
    for data in catalog.zones.values():
        for qname, qtype in _precomputed_questions(data):
            resolution = resolve(catalog, qname, qtype)
            into_pool = _pool_at_chain_end(resolution, qtype, pools)
            if into_pool is not None:
                answers[question_key(qname, qtype)] = into_pool.behind(qname, qtype, _cnames(resolution))
            else:
                answers[question_key(qname, qtype)] = render(qname, qtype, CLASS_IN, resolution)
    for (owner, qtype), pool_answer in pools.items():
        answers[question_key(owner, qtype)] = pool_answer
    infos = tuple(
        ZoneInfo(
            z.origin.to_text(), z.serial, str(z.path), sum(len(rds) for _, rds in z.zone.iterate_rdatasets())
        )
        for z in zones
    )
    negative = {z.apex: z for z in map(NegativeZone.from_zone, catalog.zones.values())}
    return Snapshot(
        catalog, answers, negative, infos, inventory, revision, build_seconds=time.perf_counter() - started
    )


def _bounded_ttls(inventory: Inventory, floor: int, ceiling: int) -> Inventory:
    """Pools with their TTL kept within the server's bounds (``pool_ttl_floor``/``_ceiling``)."""
    pools = []
    for pool in inventory.pools:
        ttl = min(max(pool.ttl, floor), ceiling)
        if ttl != pool.ttl:
            log.warning(
                "pool TTL outside the server's bounds; using the bound",
                extra={"pool": pool.name, "declared": pool.ttl, "served": ttl},
            )
        pools.append(replace(pool, ttl=ttl) if ttl != pool.ttl else pool)
    return replace(inventory, pools=tuple(pools))


def _cnames(resolution: Resolution) -> tuple[dns.rrset.RRset, ...]:
    """The leading CNAMEs of an answer: the chain from the query name to its final name."""
    chain = []
    for rrset in resolution.answer:
        if rrset.rdtype != CNAME:
            break
        chain.append(rrset)
    return tuple(chain)


def _pool_at_chain_end(
    resolution: Resolution, qtype: int, pools: dict[tuple[dns.name.Name, int], PoolAnswer]
) -> PoolAnswer | None:
    """The pool answering where a static CNAME chain ends, if one does."""
    chain = _cnames(resolution)
    if not chain or qtype == CNAME:
        return None
    target: dns.name.Name = chain[-1][0].target
    return pools.get((target.canonicalize(), qtype))


def _precomputed_questions(data: ZoneData) -> Iterator[tuple[dns.name.Name, int]]:
    for owner, by_type in data.rrsets.items():
        if owner.labels and owner.labels[0] == b"*":
            continue  # a wildcard owner asked literally is rare; the slow path answers it
        name = owner.canonicalize()
        for rdtype in by_type:
            yield name, rdtype
        if CNAME in by_type:
            for rdtype in PRECOMPUTED_CHASE_TYPES:
                yield name, rdtype
        if dns.rdatatype.SOA in by_type:
            # The apex NODATA for the address types: a common question (e.g. www-less zones).
            for rdtype in (A, AAAA):
                if rdtype not in by_type:
                    yield name, rdtype
