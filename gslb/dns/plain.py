"""Plain owners' records, kept as the wire of their answers instead of as dnspython objects.

Nearly every owner of a large zone has one address or text record, written on one simple line
(gslb/dns/zonelines.py) and asked for by its own name. As dnspython objects (a Name, Node, Rdataset,
RRset and Rdata each) such a record costs most of a kilobyte and microseconds to make and to
index: a million of them made a zone of gigabytes. So an owner all of whose records came from
simple lines, that is not the apex and not at or below a delegation, keeps each RRset as the
answer section that answers it by its own name (``render_plain``'s body: the owner a pointer to
the question). The snapshot serves that very bytes object; the general rules
(gslb/dns/authority.py) get dnspython RRsets made from it on demand, for the rare questions that
need them (ANY, the addresses of a CNAME, MX or SRV target, a pool beside static records).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.rrset
import dns.zone

IN = dns.rdataclass.IN
QUESTION_POINTER = b"\xc0\x0c"
FIXED = 12  # the pointer, TYPE, CLASS, TTL and RDLENGTH before each RDATA

RRsetWire = bytes
"""An RRset as its answer section: per record, a pointer to the question (0xC00C), TYPE, CLASS IN,
TTL, RDLENGTH and RDATA, in the order dnspython's rdataset would hold them."""

Entry = tuple[bytes, ...]
"""A plain owner: its wire name as first written (letter case kept), then one RRsetWire per type."""


def rrset_wire(rdtype: int, ttl: int, rdatas: Iterable[bytes]) -> RRsetWire:
    fixed = QUESTION_POINTER + rdtype.to_bytes(2, "big") + IN.to_bytes(2, "big") + ttl.to_bytes(4, "big")
    return b"".join(fixed + len(data).to_bytes(2, "big") + data for data in rdatas)


def rdtype_of(wire: RRsetWire) -> int:
    return wire[2] << 8 | wire[3]


def ttl_of(wire: RRsetWire) -> int:
    return int.from_bytes(wire[6:10], "big")


def rdatas_of(wire: RRsetWire) -> Iterator[bytes]:
    offset = 0
    while offset < len(wire):
        end = offset + FIXED + (wire[offset + 10] << 8 | wire[offset + 11])
        yield wire[offset + FIXED : end]
        offset = end


def records_in(wire: RRsetWire) -> int:
    count = offset = 0
    while offset < len(wire):
        offset += FIXED + (wire[offset + 10] << 8 | wire[offset + 11])
        count += 1
    return count


def fill(rdataset: dns.rdataset.Rdataset, wire: RRsetWire) -> None:
    """Add the RRset's records to an empty rdataset of its type, as the zone file's lines did."""
    ttl = ttl_of(wire)
    for rdata in rdatas_of(wire):
        rdataset.add(dns.rdata.from_wire(IN, rdataset.rdtype, rdata, 0, len(rdata)), ttl)


def name_key(name: dns.name.Name) -> bytes:
    """A name's lower-cased wire form: how the plain table (and the answer table) finds it."""
    wire = name.to_wire()
    assert wire is not None  # with no file given, to_wire returns the bytes
    return wire.lower()


def owner_texts(keys: Iterable[bytes]) -> Iterator[str]:
    """The text of each plain owner's key, as ``Name.to_text`` writes it (plain owners' labels are
    letters, digits, hyphens and underscores: zonelines' simple lines; none needs an escape). The
    owners of a zone share a few parents, whose text is made once."""
    parents: dict[bytes, str] = {b"\x00": ""}
    for key in keys:
        end = 1 + key[0]
        parent = key[end:]
        suffix = parents.get(parent)
        if suffix is None:
            suffix = parents[parent] = next(owner_texts((parent,)))
        yield key[1:end].decode("ascii") + "." + suffix


@dataclass(frozen=True, slots=True)
class PlainRecords:
    """A zone's plain owners; the zone's dnspython nodes hold none of their records."""

    owners: dict[bytes, Entry] = field(default_factory=dict)  # lower-cased owner wire → entry
    # Names between a plain owner and the apex that own no plain records (RFC 8020's empty
    # non-terminals, unless dnspython's nodes have records there).
    ancestors: frozenset[bytes] = frozenset()
    records: int = 0

    def exists(self, key: bytes) -> bool:
        """Whether the name of this lower-cased wire is a plain owner or one's ancestor."""
        return key in self.owners or key in self.ancestors

    def rrsets(self, name: dns.name.Name) -> dict[int, dns.rrset.RRset] | None:
        """The owner's RRsets by type, made anew; None where ``name`` is no plain owner."""
        if not self.owners:
            return None
        entry = self.owners.get(name_key(name))
        return None if entry is None else _rrsets(entry)

    def items(self) -> Iterator[tuple[dns.name.Name, dict[int, dns.rrset.RRset]]]:
        """Every plain owner with its RRsets, made anew (a zone transfer's pace, not a build's)."""
        for entry in self.owners.values():
            by_type = _rrsets(entry)
            yield next(iter(by_type.values())).name, by_type


def _rrsets(entry: Entry) -> dict[int, dns.rrset.RRset]:
    name = dns.name.from_wire(entry[0], 0)[0]
    by_type: dict[int, dns.rrset.RRset] = {}
    for wire in entry[1:]:
        rdtype = dns.rdatatype.RdataType.make(rdtype_of(wire))
        rrset = by_type[rdtype] = dns.rrset.RRset(name, IN, rdtype)
        fill(rrset, wire)
    return by_type


class StaticZone(dns.zone.Zone):
    """A zone file's records: dnspython's nodes, and beside them the plain owners' (``plain``).

    ``nodes`` and dnspython's iterators do not see the plain owners: readers of every record
    (counts, the static names pools may not take, the answer index) read ``plain`` too.
    """

    __slots__ = ["plain"]

    def __init__(self, origin: dns.name.Name, plain: PlainRecords | None = None) -> None:
        super().__init__(origin, relativize=False)
        self.plain = plain or PlainRecords()
