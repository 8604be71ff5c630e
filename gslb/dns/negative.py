"""NXDOMAIN, NODATA and REFUSED for names that were not rendered ahead of time, in a few microseconds.

Negative answers for arbitrary names cannot all be precomputed (any label can be asked), yet
they are both common (typos, resolvers probing) and the cheapest attack (random subdomains).
Their body is always the zone's SOA in the authority section, and with names compressed only
against the zone apex it differs between query names only in where the apex sits in the
question: so each zone keeps one template whose pointers are filled in per query.

Classification works on lower-cased wire names with set lookups. Anything it is not certain
about (CNAMEs, wildcards, delegations, types present at the name) is left to the general rules.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import dns.name
import dns.rdatatype

from gslb.dns.authority import CNAME, ZoneData
from gslb.dns.plain import name_key
from gslb.dns.render import Answer
from gslb.dns.wire import (
    MAX_NAME_LENGTH,
    RCODE_NOERROR,
    RCODE_NXDOMAIN,
    RCODE_REFUSED,
    counts,
    flags_index,
)

MAX_LABEL_LENGTH = 63

ANY = dns.rdatatype.ANY
_HEAD = counts(0, 1, 0)
_HEAD_OPT = counts(0, 1, 1)
REFUSED = Answer(flags_index(RCODE_REFUSED, authoritative=False), counts(0, 0, 0), counts(0, 0, 1), b"", ())


@dataclass(frozen=True, slots=True)
class NegativeZone:
    """One zone's wire-name sets and its negative answers for every query-name length."""

    apex: bytes
    types: dict[bytes, frozenset[int]]  # owner → types present
    names: frozenset[bytes]  # owners and empty non-terminals
    cuts: frozenset[bytes]
    wildcards: bool  # any wildcard owner: NXDOMAIN needs the closest encloser's check
    parts: tuple[bytes | int, ...]  # raw bytes, or an offset into the apex to point at
    nxdomain: tuple[Answer, ...]  # by query name length: the SOA's pointers depend on nothing else
    nodata: tuple[Answer, ...]

    @classmethod
    def from_zone(cls, data: ZoneData, types: dict[bytes, frozenset[int]]) -> NegativeZone:
        """The zone's templates; ``types`` maps each owner's lower-cased wire name to its types,
        made by the snapshot builder in the pass over the zone that renders its answers."""
        apex = name_key(data.origin)
        parts = _soa_template(data, apex)
        lengths = range(MAX_NAME_LENGTH + 1)
        return cls(
            apex=apex,
            types=types,
            names=_with_ancestors(types, apex),
            cuts=frozenset(name_key(n) for n in data.cuts),
            wildcards=any(name.startswith(b"\x01*") for name in types),
            parts=parts,
            nxdomain=tuple(_answer(parts, length - len(apex), RCODE_NXDOMAIN) for length in lengths),
            nodata=tuple(_answer(parts, length - len(apex), RCODE_NOERROR) for length in lengths),
        )


def _with_ancestors(owners: Iterable[bytes], apex: bytes) -> frozenset[bytes]:
    """The owners and every name between them and the apex: the empty non-terminals (RFC 8020)."""
    names = set(owners)
    names.add(apex)
    for owner in list(names):
        start = owner[0] + 1
        while len(owner) - start > len(apex) and owner[start:] not in names:
            names.add(owner[start:])
            start += owner[start] + 1
    return frozenset(names)


def _answer(parts: tuple[bytes | int, ...], apex_offset: int, rcode: int) -> Answer:
    """The SOA in the authority section, its pointers aimed at the apex inside the question."""
    base = 12 + max(apex_offset, 0)
    body = b"".join(p if isinstance(p, bytes) else (0xC000 | (base + p)).to_bytes(2, "big") for p in parts)
    return Answer(flags_index(rcode, authoritative=True), _HEAD, _HEAD_OPT, body, ())


def classify(zones: dict[bytes, NegativeZone], qname: bytes, qtype: int) -> Answer | None:
    """The negative answer for ``qname`` (lower-cased wire), or None if the general rules must decide."""
    starts = _label_starts(qname)
    if starts is None:
        return None
    for index in range(len(starts)):
        zone = zones.get(qname[starts[index] :])
        if zone is not None:
            break
    else:
        return REFUSED  # outside every served zone
    if zone.cuts:
        # Any delegation between the apex and the name makes this a referral.
        for start in starts[:index]:
            if qname[start:] in zone.cuts:
                return None
    types = zone.types.get(qname)
    if types is not None:
        if qtype in types or CNAME in types or qtype == ANY:
            return None
        return zone.nodata[len(qname)]
    if qname in zone.names:
        return zone.nodata[len(qname)]  # empty non-terminal
    if not zone.wildcards:
        return zone.nxdomain[len(qname)]
    for start in starts[1 : index + 1]:
        if qname[start:] in zone.names:
            if b"\x01*" + qname[start:] in zone.types:
                return None  # a wildcard may synthesize an answer
            return zone.nxdomain[len(qname)]
    return None


def _label_starts(qname: bytes) -> list[int] | None:
    """Offsets of each label of a wire name, longest suffix first; None if malformed (a label
    over 63 octets, which is also any compression pointer, or a name over 255 octets)."""
    if len(qname) > MAX_NAME_LENGTH:
        return None
    starts = []
    offset = 0
    end = len(qname)
    while offset < end and qname[offset]:
        if qname[offset] > MAX_LABEL_LENGTH:
            return None
        starts.append(offset)
        offset += qname[offset] + 1
    if offset != end - 1:
        return None
    return starts


def _soa_template(data: ZoneData, apex: bytes) -> tuple[bytes | int, ...]:
    """The negative SOA RR with its owner and RDATA names compressed against the apex only."""
    soa = data.negative_soa
    rdata = soa[0]
    suffixes = {apex[start:]: start for start in _label_starts(apex) or []}
    mname = _compressed(name_key(rdata.mname), suffixes)
    rname = _compressed(name_key(rdata.rname), suffixes)
    numbers = b"".join(
        int(v).to_bytes(4, "big")
        for v in (rdata.serial, rdata.refresh, rdata.retry, rdata.expire, rdata.minimum)
    )
    rdlength = sum(2 if isinstance(p, int) else len(p) for p in (*mname, *rname)) + len(numbers)
    fixed = (
        dns.rdatatype.SOA.to_bytes(2, "big")
        + soa.rdclass.to_bytes(2, "big")
        + soa.ttl.to_bytes(4, "big")
        + rdlength.to_bytes(2, "big")
    )
    return (0, fixed, *mname, *rname, numbers)


def _compressed(name: bytes, suffixes: dict[bytes, int]) -> tuple[bytes | int, ...]:
    """Raw labels up to the longest suffix shared with the apex, then a pointer to it."""
    for start in _label_starts(name) or []:
        if name[start:] in suffixes:
            return (name[:start], suffixes[name[start:]]) if start else (suffixes[name[start:]],)
    return (name,)
