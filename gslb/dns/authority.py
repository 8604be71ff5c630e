"""Authoritative answer rules (RFC 1034 4.3.2, RFC 2308, RFC 4592, RFC 8482), as pure functions.

Given the served zones and one question, decide the rcode, the AA flag and the RRsets of the
three sections. Nothing here touches wire bytes or sockets: the snapshot builder renders every
common question ahead of time with these rules, and the responder falls back to them for the
rest, so there is exactly one definition of what gslb answers.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

import dns.name
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.rrset
import dns.zone

from gslb.dns.plain import PlainRecords, StaticZone, name_key
from gslb.dns.wire import RCODE_NOERROR, RCODE_NXDOMAIN, RCODE_REFUSED

A = dns.rdatatype.A
AAAA = dns.rdatatype.AAAA
ANY = dns.rdatatype.ANY
CNAME = dns.rdatatype.CNAME
DS = dns.rdatatype.DS
MX = dns.rdatatype.MX
NS = dns.rdatatype.NS
SOA = dns.rdatatype.SOA
SRV = dns.rdatatype.SRV

MAX_CNAME_CHAIN = 12
WILDCARD = b"*"

RRsets = tuple[dns.rrset.RRset, ...]


@dataclass(frozen=True, slots=True)
class Resolution:
    """The outcome of one question, before rendering."""

    rcode: int
    authoritative: bool
    answer: RRsets = ()
    authority: RRsets = ()
    additional: RRsets = ()
    glue_required: bool = False  # a referral whose glue must fit, or the answer is truncated


REFUSED = Resolution(RCODE_REFUSED, authoritative=False)


@dataclass(frozen=True, slots=True)
class ZoneNames:
    """The names of a zone that exist: owners and empty non-terminals (RFC 8020). Those of the
    plain table are its wire keys, so that a million plain owners need no Name each."""

    indexed: frozenset[dns.name.Name]  # the owners held as dnspython RRsets, their ancestors
    plain: PlainRecords

    def __contains__(self, name: object) -> bool:
        if name in self.indexed:
            return True
        plain = self.plain
        return bool(plain.owners) and isinstance(name, dns.name.Name) and plain.exists(name_key(name))


@dataclass(frozen=True, slots=True)
class ZoneData:
    """One zone indexed for lookups: RRsets by owner and type, existing names, and cuts.

    The zone file's RRsets and the pool names' (``pools``: each pool owner's RRsets, the file's
    included) are kept apart, so that a change to pools copies the small table, never the large
    one; ``owner()`` sees both. Most static owners of a large zone are in neither but in ``plain``
    (gslb/dns/plain.py), whose RRsets ``owner()`` makes when asked.
    """

    origin: dns.name.Name
    rrsets: dict[dns.name.Name, dict[int, dns.rrset.RRset]]
    names: ZoneNames  # owners plus empty non-terminals
    cuts: frozenset[dns.name.Name]  # delegation points (NS below the apex)
    soa: dns.rrset.RRset
    negative_soa: dns.rrset.RRset = field(repr=False)  # TTL = min(SOA TTL, MINIMUM), RFC 2308 5
    pools: dict[dns.name.Name, dict[int, dns.rrset.RRset]] = field(default_factory=dict)
    plain: PlainRecords = field(default_factory=PlainRecords, repr=False)

    @classmethod
    def from_zone(cls, zone: dns.zone.Zone, extra: Iterable[dns.rrset.RRset] = ()) -> ZoneData:
        """Index a zone; ``extra`` RRsets (pool names) replace the zone's RRsets of their type."""
        origin = zone.origin
        assert origin is not None
        plain = zone.plain if isinstance(zone, StaticZone) else PlainRecords()
        rrsets: dict[dns.name.Name, dict[int, dns.rrset.RRset]] = {}
        for name, node in zone.nodes.items():
            by_type = rrsets[name] = {}
            for rdataset in node.rdatasets:
                by_type[rdataset.rdtype] = _as_rrset(name, rdataset)
        pools: dict[dns.name.Name, dict[int, dns.rrset.RRset]] = {}
        for rrset in extra:
            owner = pools.get(rrset.name)
            if owner is None:
                owner = pools[rrset.name] = dict(rrsets.get(rrset.name) or plain.rrsets(rrset.name) or {})
            owner[rrset.rdtype] = rrset
        names: set[dns.name.Name] = {origin, *rrsets, *pools}
        for name in (*rrsets, *pools):
            # Empty non-terminals: the missing ancestors (the origin is in the set, so this stops).
            ancestor = dns.name.Name(name.labels[1:])
            while ancestor not in names and len(ancestor) > len(origin):
                names.add(ancestor)
                ancestor = dns.name.Name(ancestor.labels[1:])
        cuts = frozenset(n for n, types in rrsets.items() if n != origin and NS in types)
        soa = rrsets[origin][SOA]
        negative = dns.rrset.RRset(origin, soa.rdclass, SOA)
        negative.update(soa)
        negative.ttl = min(soa.ttl, soa[0].minimum)
        return cls(origin, rrsets, ZoneNames(frozenset(names), plain), cuts, soa, negative, pools, plain)

    def owner(self, name: dns.name.Name) -> dict[int, dns.rrset.RRset] | None:
        """The RRsets of ``name`` by type, or None where it owns none."""
        return self.pools.get(name) or self.rrsets.get(name) or self.plain.rrsets(name)

    def owners(self, *, plain: bool = True) -> Iterator[tuple[dns.name.Name, dict[int, dns.rrset.RRset]]]:
        """Every owner with its RRsets, pool names included; ``plain=False`` leaves out the plain
        owners that are no pool's name (the snapshot reads their wire, gslb/dns/plain.py)."""
        pools = self.pools
        for name, by_type in self.rrsets.items():
            yield name, pools.get(name, by_type)
        for name, by_type in pools.items():
            if name not in self.rrsets:
                yield name, by_type
        if plain:
            for name, by_type in self.plain.items():
                if name not in pools:
                    yield name, by_type

    def cut_at_or_above(self, name: dns.name.Name) -> dns.name.Name | None:
        """The highest delegation point between the apex (exclusive) and ``name`` (inclusive)."""
        if not self.cuts:
            return None
        labels = name.labels
        depth = len(self.origin.labels)
        for count in range(depth + 1, len(labels) + 1):
            candidate = dns.name.Name(labels[-count:])
            if candidate in self.cuts:
                return candidate
        return None

    def closest_encloser(self, name: dns.name.Name) -> dns.name.Name:
        """The deepest existing ancestor of a name that does not exist (RFC 4592 3.3.1)."""
        candidate = name.parent()
        while candidate not in self.names:
            candidate = candidate.parent()
        return candidate


def _as_rrset(name: dns.name.Name, rdataset: dns.rdataset.Rdataset) -> dns.rrset.RRset:
    """The rdataset as an RRset of ``name``, without hashing every rdata again (an rdata's hash is
    its wire form, computed anew: a third of the time of indexing a large zone). Copies the set's
    ``items`` as dnspython's own clone protocol (dns.set.Set._clone) does."""
    rrset = dns.rrset.RRset(name, rdataset.rdclass, rdataset.rdtype, rdataset.covers)
    rrset.ttl = rdataset.ttl
    rrset.items.update(rdataset.items)
    return rrset


@dataclass(frozen=True, slots=True)
class Catalog:
    """Every served zone, found by the longest matching origin."""

    zones: dict[dns.name.Name, ZoneData]
    # The zones by their origin's lower-cased wire: a name's suffixes are slices of its own wire,
    # where a dnspython Name made for each suffix hashes every label anew (100,000 pool names
    # cost a second that way).
    by_key: dict[bytes, ZoneData] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_key", {name_key(origin): zone for origin, zone in self.zones.items()})

    @classmethod
    def from_zones(
        cls,
        zones: Iterable[dns.zone.Zone],
        extra: Mapping[dns.name.Name, list[dns.rrset.RRset]] | None = None,
    ) -> Catalog:
        """Index every zone; ``extra`` RRsets go to the zone with the longest matching origin."""
        zones = list(zones)
        origins = [z.origin for z in zones if z.origin is not None]
        placed: dict[dns.name.Name, list[dns.rrset.RRset]] = {o: [] for o in origins}
        for owner, rrsets in (extra or {}).items():
            inside = [o for o in origins if owner.is_subdomain(o)]
            if inside:
                placed[max(inside, key=len)].extend(rrsets)
        data = (ZoneData.from_zone(z, placed.get(z.origin, ())) for z in zones)  # type: ignore[arg-type]
        return cls({z.origin: z for z in data})

    def find(self, name: dns.name.Name) -> ZoneData | None:
        """The zone of the longest origin ``name`` is at or below (an absolute name)."""
        key, offset = name_key(name), 0
        while True:
            zone = self.by_key.get(key[offset:])
            if zone is not None or key[offset] == 0:
                return zone
            offset += key[offset] + 1


def resolve(catalog: Catalog, qname: dns.name.Name, qtype: int, *, tcp: bool = False) -> Resolution:
    """Answer one IN-class question from the served zones."""
    zone = catalog.find(qname)
    if zone is None:
        return REFUSED
    answer: list[dns.rrset.RRset] = []
    seen: set[dns.name.Name] = set()
    name = qname
    while True:
        cut = zone.cut_at_or_above(name)
        if cut is not None and not (cut == name and qtype == DS):
            if answer:
                # A CNAME led below a delegation: what we own is the chain; the rest is theirs.
                return Resolution(RCODE_NOERROR, True, tuple(answer))
            return _referral(catalog, zone, cut)
        owner_rrsets = zone.owner(name)
        synthesized = False
        if owner_rrsets is None:
            if name in zone.names:  # empty non-terminal
                return _negative(zone, RCODE_NOERROR, answer)
            wildcard = dns.name.Name((WILDCARD, *zone.closest_encloser(name).labels))
            owner_rrsets = zone.owner(wildcard)
            if owner_rrsets is None:
                return _negative(zone, RCODE_NXDOMAIN, answer)
            synthesized = True
        if qtype == ANY:
            chosen = _any_rrsets(owner_rrsets, tcp)
            answer.extend(_owned_by(name, r) if synthesized else r for r in chosen)
            return _positive(catalog, answer)
        rrset = owner_rrsets.get(qtype)
        if rrset is not None:
            answer.append(_owned_by(name, rrset) if synthesized else rrset)
            return _positive(catalog, answer)
        cname = owner_rrsets.get(CNAME)
        if cname is None:
            return _negative(zone, RCODE_NOERROR, answer)
        answer.append(_owned_by(name, cname) if synthesized else cname)
        seen.add(name)
        target: dns.name.Name = cname[0].target
        next_zone = catalog.find(target)
        if next_zone is None or target in seen or len(seen) >= MAX_CNAME_CHAIN:
            return Resolution(RCODE_NOERROR, True, tuple(answer))
        zone, name = next_zone, target


def _any_rrsets(owner_rrsets: dict[int, dns.rrset.RRset], tcp: bool) -> list[dns.rrset.RRset]:
    """RFC 8482: over UDP one RRset (the one of lowest type) answers ANY; TCP gets them all."""
    ordered = [owner_rrsets[t] for t in sorted(owner_rrsets)]
    return ordered if tcp else ordered[:1]


def _owned_by(name: dns.name.Name, rrset: dns.rrset.RRset) -> dns.rrset.RRset:
    """A wildcard RRset synthesized at the query name (RFC 4592 2.2)."""
    synthesized = dns.rrset.RRset(name, rrset.rdclass, rrset.rdtype)
    synthesized.update(rrset)
    return synthesized


def _positive(catalog: Catalog, answer: list[dns.rrset.RRset]) -> Resolution:
    return Resolution(RCODE_NOERROR, True, tuple(answer), (), _additional(catalog, answer))


def _negative(zone: ZoneData, rcode: int, answer: list[dns.rrset.RRset]) -> Resolution:
    """NXDOMAIN or NODATA with the SOA that bounds negative caching (RFC 2308 3)."""
    return Resolution(rcode, True, tuple(answer), (zone.negative_soa,))


def _referral(catalog: Catalog, zone: ZoneData, cut: dns.name.Name) -> Resolution:
    ns = zone.rrsets[cut][NS]  # a cut is never a pool name
    glue = _addresses(catalog, (rdata.target for rdata in ns))
    return Resolution(RCODE_NOERROR, False, (), (ns,), glue, glue_required=bool(glue))


def _additional(catalog: Catalog, answer: list[dns.rrset.RRset]) -> RRsets:
    """In-zone addresses of the hosts that NS, MX and SRV answers name (RFC 1035 3.3)."""
    targets: list[dns.name.Name] = []
    for rrset in answer:
        if rrset.rdtype == NS:
            targets.extend(rdata.target for rdata in rrset)
        elif rrset.rdtype == MX:
            targets.extend(rdata.exchange for rdata in rrset)
        elif rrset.rdtype == SRV:
            targets.extend(rdata.target for rdata in rrset)
    return _addresses(catalog, targets)


def _addresses(catalog: Catalog, targets: Iterable[dns.name.Name]) -> RRsets:
    found: list[dns.rrset.RRset] = []
    seen: set[dns.name.Name] = set()
    for target in targets:
        if target in seen:
            continue
        seen.add(target)
        zone = catalog.find(target)
        owner_rrsets = zone.owner(target) if zone is not None else None
        if owner_rrsets is None:
            continue
        found.extend(owner_rrsets[t] for t in (A, AAAA) if t in owner_rrsets)
    return tuple(found)
