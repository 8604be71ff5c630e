"""Render a Resolution into the wire fragments a response is joined from.

A response is ``ID + flags + counts + question + body``. The question is copied from the query
(so its letter case survives), which means every compression pointer in the body must point
into a question of the same *shape*: the same labels at the same offsets. Rendering the body
against the lower-cased question gives exactly that, whatever case the client used.
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass

import dns.name
import dns.rdata
import dns.rdatatype
import dns.rrset

from gslb.dns.authority import Resolution
from gslb.dns.plain import RRsetWire, records_in
from gslb.dns.wire import HEADER_SIZE, RCODE_NOERROR, counts, flags_index


@dataclass(frozen=True, slots=True)
class Answer:
    """A rendered answer: everything of a response but ID, query-copied bits and OPT.

    ``body`` has all three sections. Where the full body exceeds a UDP limit, optional
    additional data is left out rather than the answer truncated (RFC 2181 9): ``cuts`` lists,
    for each whole additional RRset, the body length and ARCOUNT up to and including it, so the
    responder keeps the longest prefix that fits. It is empty where nothing may be dropped.
    """

    flags: int  # index base into wire.FLAGS
    head: bytes  # QDCOUNT..ARCOUNT without OPT
    head_opt: bytes  # the same with ARCOUNT + 1 for OPT
    body: bytes
    cuts: tuple[tuple[int, int], ...]  # (body length, ARCOUNT), shortest first


def render(qname: dns.name.Name, qtype: int, qclass: int, resolution: Resolution) -> Answer:
    """Render ``resolution`` for a question of ``qname``'s shape (lower case is fine)."""
    compress: dict[dns.name.Name, int] = {}
    out = io.BytesIO()
    out.write(bytes(HEADER_SIZE))
    qname.to_wire(out, compress)
    out.write(qtype.to_bytes(2, "big") + qclass.to_bytes(2, "big"))
    body_start = out.tell()
    # Records keep their order: a pool's policy decided it (dnspython would shuffle by default).
    for rrset in resolution.answer + resolution.authority:
        rrset.to_wire(out, compress, want_shuffle=False)
    cuts = [(out.tell() - body_start, 0)]
    for rrset in resolution.additional:
        rrset.to_wire(out, compress, want_shuffle=False)
        cuts.append((out.tell() - body_start, cuts[-1][1] + len(rrset)))
    wire = out.getvalue()
    an = _count(resolution.answer)
    ns = _count(resolution.authority)
    ar = cuts[-1][1]
    droppable = ar > 0 and not resolution.glue_required
    return Answer(
        flags=flags_index(resolution.rcode, resolution.authoritative),
        head=counts(an, ns, ar),
        head_opt=counts(an, ns, ar + 1),
        body=wire[body_start:],
        cuts=tuple(cuts[:-1]) if droppable else (),
    )


PLAIN_TYPES: frozenset[int] = frozenset(
    dns.rdatatype.RdataType.make(t)
    for t in ("A", "AAAA", "TXT", "SPF", "CAA", "SSHFP", "TLSA", "HINFO", "OPENPGPKEY", "SMIMEA")
)
"""Types whose RDATA holds no domain name: nothing in it is compressed, and a positive answer of
one of them has no additional section (RFC 1034 3.6.2 adds data only for names in RDATA)."""
_POSITIVE = flags_index(RCODE_NOERROR, authoritative=True)


def render_plain(rrset: dns.rrset.RRset) -> Answer:
    """The answer ``render`` gives for ``rrset`` asked by its own name, when its type is one of
    PLAIN_TYPES, at a tenth of the cost: a million static records are rendered at every start."""
    fixed = b"\xc0\x0c" + rrset.rdtype.to_bytes(2, "big") + rrset.rdclass.to_bytes(2, "big")
    fixed += rrset.ttl.to_bytes(4, "big")
    body = b"".join(fixed + len(data).to_bytes(2, "big") + data for data in map(_rdata_wire, rrset))
    head, head_opt = _heads(len(rrset))
    return Answer(_POSITIVE, head, head_opt, body, ())


def plain_answer(wire: RRsetWire) -> Answer:
    """The answer ``render_plain`` gives for a plain owner's RRset (gslb/dns/plain.py), whose wire
    is already the body: nothing to make but the header counts."""
    head, head_opt = _heads(records_in(wire))
    return Answer(_POSITIVE, head, head_opt, wire, ())


def _rdata_wire(rdata: dns.rdata.Rdata) -> bytes:
    data = rdata.to_wire()
    assert data is not None  # with no file given, to_wire returns the bytes
    return data


@functools.cache
def _heads(records: int) -> tuple[bytes, bytes]:
    return counts(records, 0, 0), counts(records, 0, 1)


def _count(rrsets: tuple[dns.rrset.RRset, ...]) -> int:
    return sum(len(r) for r in rrsets)
