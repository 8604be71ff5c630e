"""Render a Resolution into the wire fragments a response is joined from.

A response is ``ID + flags + counts + question + body``. The question is copied from the query
(so its letter case survives), which means every compression pointer in the body must point
into a question of the same *shape*: the same labels at the same offsets. Rendering the body
against the lower-cased question gives exactly that, whatever case the client used.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import dns.name
import dns.rrset

from gslb.dns.authority import Resolution
from gslb.dns.wire import HEADER_SIZE, counts, flags_index


@dataclass(frozen=True, slots=True)
class Answer:
    """A rendered answer: everything of a response but ID, query-copied bits and OPT.

    ``body`` has all three sections; ``short_body`` drops the additional section, for a UDP
    limit that the full body exceeds (RFC 2181 9: optional additional data is left out, not
    truncated). ``short_body`` is None where dropping is not allowed or changes nothing.
    """

    flags: int  # index base into wire.FLAGS
    head: bytes  # QDCOUNT..ARCOUNT without OPT
    head_opt: bytes  # the same with ARCOUNT + 1 for OPT
    body: bytes
    short_head: bytes
    short_head_opt: bytes
    short_body: bytes | None


def render(qname: dns.name.Name, qtype: int, qclass: int, resolution: Resolution) -> Answer:
    """Render ``resolution`` for a question of ``qname``'s shape (lower case is fine)."""
    compress: dict[dns.name.Name, int] = {}
    out = io.BytesIO()
    out.write(bytes(HEADER_SIZE))
    qname.to_wire(out, compress)
    out.write(qtype.to_bytes(2, "big") + qclass.to_bytes(2, "big"))
    body_start = out.tell()
    for rrset in resolution.answer + resolution.authority:
        rrset.to_wire(out, compress)
    short_end = out.tell()
    for rrset in resolution.additional:
        rrset.to_wire(out, compress)
    wire = out.getvalue()
    an = _count(resolution.answer)
    ns = _count(resolution.authority)
    ar = _count(resolution.additional)
    droppable = ar > 0 and not resolution.glue_required
    return Answer(
        flags=flags_index(resolution.rcode, resolution.authoritative),
        head=counts(an, ns, ar),
        head_opt=counts(an, ns, ar + 1),
        body=wire[body_start:],
        short_head=counts(an, ns, 0),
        short_head_opt=counts(an, ns, 1),
        short_body=wire[body_start:short_end] if droppable else None,
    )


def _count(rrsets: tuple[dns.rrset.RRset, ...]) -> int:
    return sum(len(r) for r in rrsets)
