"""Turn one query's bytes into one response's bytes, reading only the snapshot.

The common case is a slice, ``lower()``, one dict lookup, one counter increment (its labels are
worked out at scrape time, gslb/answer/counters.py) and a join of precomputed fragments.
Everything unusual (a question not rendered ahead of time, EDNS errors, other opcodes, zone
transfers) leaves the fast path early and is handled by plainer code below it.
"""

from __future__ import annotations

import io
import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass, field

import dns.name
import dns.rdatatype
import dns.rrset

from gslb.answer.counters import NO_QUESTION, Counters, answer_rcode, count_one, first_count
from gslb.dns import negative, wire
from gslb.dns.authority import SOA, resolve
from gslb.dns.client import client_key
from gslb.dns.render import Answer, render
from gslb.dns.wire import FLAGS, ClientSubnet, Edns
from gslb.errors import FormatError
from gslb.snapshot.pools import PoolAnswer
from gslb.snapshot.snapshot import CLASS_IN, Snapshot

TCP_LIMIT = 65535
PLAIN_OPT_CACHE_SIZE = 256
TRANSFER_MESSAGE_SIZE = 16000  # start a new message past this; well under 65535 with any RRset
AXFR = dns.rdatatype.AXFR
IXFR = dns.rdatatype.IXFR
UNSUPPORTED_META_TYPES = frozenset(
    {dns.rdatatype.MAILA, dns.rdatatype.MAILB, dns.rdatatype.TKEY, dns.rdatatype.TSIG}
)
FORMERR_TYPES = frozenset({0, dns.rdatatype.OPT})
SLOW_TYPES = frozenset(t.to_bytes(2, "big") for t in (*FORMERR_TYPES, *UNSUPPORTED_META_TYPES, AXFR, IXFR))
"""QTYPEs (as wire bytes) that a negative answer must not short-circuit: _refusal decides them."""

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class ResponderSettings:
    """What the responder needs from the configuration, fixed for the life of a listener."""

    max_udp_payload: int = 1232
    transfer_allowed: tuple[Network, ...] = ()
    client_prefix_v4: int = 24  # source addresses are truncated to these for sticky policies
    client_prefix_v6: int = 56
    # Option-less OPT records as queries send them (11 bytes) → (our OPT, UDP limit). Clients send
    # very few distinct ones, so the common EDNS query skips parsing; bounded against variety.
    plain_opt: dict[bytes, tuple[bytes, int]] = field(default_factory=dict, compare=False, repr=False)
    # Every answer is counted here, one increment under a key the responder already has
    # (gslb/answer/counters.py turns the keys into labels, off the hot path).
    counters: Counters = field(default_factory=Counters, compare=False, repr=False)

    def may_transfer(self, client_ip: str) -> bool:
        try:
            address = ipaddress.ip_address(client_ip.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self.transfer_allowed)


def respond(
    snapshot: Snapshot, data: bytes, settings: ResponderSettings, client_ip: str = "", tcp: bool = False
) -> bytes | None:
    """The response to ``data``, or None where the query must be dropped (RFC 1035 4.1.1)."""
    if len(data) < wire.HEADER_SIZE or data[2] & 0x80:
        return None  # no header to answer, or a response: never answer a response
    if data[2] & 0x78 or data[4:6] != b"\x00\x01":
        return _exceptional(data, snapshot, settings, client_ip, tcp)
    end = data.find(b"\x00", 12) + 5
    if end == 4:
        return _error(data, wire.RCODE_FORMERR, None, None, settings)
    question = data[12:end]
    # Only the name is case-insensitive: QTYPE bytes 0x41-0x5A must not fold onto other types.
    key = question[:-4].lower() + question[-4:]
    answer = snapshot.dynamic.get(key) or snapshot.answers.get(key)
    counted: bytes | int = key  # what the answer is counted under (gslb/answer/counters.py)
    if answer is None:
        # Names nobody rendered ahead of time: mostly NXDOMAIN (typos, random-subdomain floods),
        # answered from the zone's templates at nearly the cost of a hit.
        if end > len(data) or question[-2:] != b"\x00\x01" or question[-4:-2] in SLOW_TYPES:
            return _exceptional(data, snapshot, settings, client_ip, tcp)
        qtype = (question[-4] << 8) | question[-3]
        answer = negative.classify(snapshot.negative, question[:-4].lower(), qtype)
        if answer is None:
            return _exceptional(data, snapshot, settings, client_ip, tcp)
        counted = answer.flags << 16 | qtype  # a template shared by many names: count by labels
    if end == len(data):
        if data[6:12] != b"\x00\x00\x00\x00\x00\x00":
            return _error(data, wire.RCODE_FORMERR, question, None, settings)
        chosen = _chosen(answer, key, counted, client_ip, None, settings)[0]
        return _join(data, question, chosen, TCP_LIMIT if tcp else wire.MIN_UDP_PAYLOAD, b"", False)
    plain = settings.plain_opt.get(data[end:])
    if plain is None or data[6:12] != b"\x00\x00\x00\x00\x00\x01":
        try:
            edns = wire.parse_opt(data, end)
        except FormatError:
            return _error(data, wire.RCODE_FORMERR, question, None, settings)
        if edns.version != 0:
            return _error(data, wire.RCODE_BADVERS, question, edns, settings)
        chosen, scope = _chosen(answer, key, counted, client_ip, edns.client_subnet, settings)
        return _with_edns(data, question, chosen, edns, settings, tcp, scope, data[end:])
    chosen = _chosen(answer, key, counted, client_ip, None, settings)[0]
    return _join(data, question, chosen, TCP_LIMIT if tcp else plain[1], plain[0], True)


def _chosen(
    answer: Answer | PoolAnswer,
    key: bytes,
    counted: bytes | int,
    client_ip: str,
    ecs: ClientSubnet | None,
    settings: ResponderSettings,
) -> tuple[Answer, int]:
    """The answer to send, counted, and the ECS scope it is true for: a pool's is its pick for this
    client, counted under the question's key and the pick; any other under ``counted``."""
    if isinstance(answer, PoolAnswer):
        client = None
        if answer.uses_client:
            client = client_key(client_ip, ecs, settings.client_prefix_v4, settings.client_prefix_v6)
        index, scope = answer.selector.pick(client)
        # LookupError: the key's first answer, or slots made for another snapshot's pool.
        try:
            settings.counters.live[key][index] += 1
        except LookupError:
            first_count(settings.counters, key, index, len(answer.answers))
        return answer.answers[index], scope
    try:
        settings.counters.live[counted][0] += 1
    except LookupError:
        first_count(settings.counters, counted, 0, 1)
    return answer, 0


def _join(data: bytes, question: bytes, answer: Answer, limit: int, opt: bytes, with_opt: bool) -> bytes:
    """ID + flags + counts + question + body (+ OPT), dropping additional data or truncating to fit."""
    bits = (data[2] & 1) | ((data[3] & 0x10) << 3)
    size = 12 + len(question) + len(opt)
    if size + len(answer.body) <= limit:
        head = answer.head_opt if with_opt else answer.head
        return data[:2] + FLAGS[answer.flags + bits] + head + question + answer.body + opt
    for length, additional in reversed(answer.cuts):
        if size + length <= limit:
            head = answer.head[:6] + (additional + with_opt).to_bytes(2, "big")
            return data[:2] + FLAGS[answer.flags + bits] + head + question + answer.body[:length] + opt
    # RFC 2181 9 / RFC 6891 7: set TC and send no partial RRsets; the client retries over TCP.
    head = wire.counts(0, 0, 1 if with_opt else 0)
    return data[:2] + FLAGS[(answer.flags | 2) + bits] + head + question + opt


def _with_edns(
    data: bytes,
    question: bytes,
    answer: Answer,
    edns: Edns,
    settings: ResponderSettings,
    tcp: bool,
    scope: int,
    tail: bytes = b"",
) -> bytes:
    options = edns.client_subnet.option(scope) if edns.client_subnet is not None else b""
    opt = wire.opt_record(settings.max_udp_payload, edns.dnssec_ok, options)
    limit = min(edns.payload, settings.max_udp_payload)
    if tail and len(tail) == 11 and len(settings.plain_opt) < PLAIN_OPT_CACHE_SIZE:
        settings.plain_opt[tail] = (opt, limit)  # an option-less OPT: remember what it asks for
    return _join(data, question, answer, TCP_LIMIT if tcp else limit, opt, True)


def _error(
    data: bytes, rcode: int, question: bytes | None, edns: Edns | None, settings: ResponderSettings
) -> bytes:
    """A response carrying only an rcode (and the question and OPT where they could be read)."""
    qtype = (question[-4] << 8) | question[-3] if question and len(question) > 4 else NO_QUESTION
    count_one(settings.counters, rcode, qtype)
    bits = (data[2] & 1) | ((data[3] & 0x10) << 3)
    opcode = data[2] & 0x78
    flags = FLAGS[wire.flags_index(rcode, authoritative=False) + bits]
    flags = bytes((flags[0] | opcode, flags[1]))
    opt = b""
    if edns is not None:
        opt = wire.opt_record(settings.max_udp_payload, edns.dnssec_ok, extended_rcode=rcode)
    head = wire.counts(0, 0, 1 if opt else 0, question=1 if question else 0)
    return data[:2] + flags + head + (question or b"") + opt


def _exceptional(
    data: bytes, snapshot: Snapshot, settings: ResponderSettings, client_ip: str, tcp: bool
) -> bytes | None:
    """Everything off the fast path, parsed carefully: errors, other opcodes, rare questions."""
    question: bytes | None = None
    try:
        end = wire.question_end(data) if data[4:6] == b"\x00\x01" else None
        if end is not None:
            question = data[12:end]
        edns = None
        if end is not None and end < len(data):
            edns = wire.parse_opt(data, end)
        elif end is not None and data[6:12] != b"\x00\x00\x00\x00\x00\x00":
            raise FormatError("header counts records the message does not carry")
    except FormatError:
        return _error(data, wire.RCODE_FORMERR, question, None, settings)
    if data[2] & 0x78 != wire.OPCODE_QUERY << 3:
        return _error(data, wire.RCODE_NOTIMP, question, edns, settings)
    if question is None:
        return _error(data, wire.RCODE_FORMERR, None, edns, settings)
    if edns is not None and edns.version != 0:
        return _error(data, wire.RCODE_BADVERS, question, edns, settings)
    asked = qtype = int.from_bytes(question[-4:-2], "big")
    qclass = int.from_bytes(question[-2:], "big")
    rcode = _refusal(qtype, qclass, settings, client_ip, tcp)
    if rcode is not None:
        return _error(data, rcode, question, edns, settings)
    if qtype == IXFR:
        qtype = SOA  # RFC 1995 2: over UDP an IXFR may be answered with the SOA alone
    answer = negative.classify(snapshot.negative, question[:-4].lower(), qtype)
    if answer is None:
        qname = dns.name.from_wire(question.lower(), 0)[0]
        answer = render(qname, qtype, qclass, resolve(snapshot.catalog, qname, qtype, tcp=tcp))
    count_one(settings.counters, answer_rcode(answer), asked)
    if edns is None:
        return _join(data, question, answer, TCP_LIMIT if tcp else wire.MIN_UDP_PAYLOAD, b"", False)
    return _with_edns(data, question, answer, edns, settings, tcp, 0)


def _refusal(qtype: int, qclass: int, settings: ResponderSettings, client_ip: str, tcp: bool) -> int | None:
    """The rcode for questions gslb will not answer from zone data, or None."""
    if qtype in FORMERR_TYPES:
        return wire.RCODE_FORMERR
    if qtype in UNSUPPORTED_META_TYPES:
        return wire.RCODE_NOTIMP
    if qclass != CLASS_IN:
        return wire.RCODE_REFUSED
    if qtype in (AXFR, IXFR):
        if tcp or not settings.may_transfer(client_ip):
            return wire.RCODE_REFUSED  # allowed transfers over TCP are served by respond_stream
        if qtype == AXFR:
            return wire.RCODE_NOTIMP  # AXFR is only defined over TCP (RFC 5936 4.2)
    return None


def respond_stream(
    snapshot: Snapshot, data: bytes, settings: ResponderSettings, client_ip: str
) -> Iterator[bytes]:
    """TCP responses to one query: one message, or a zone transfer's sequence (RFC 5936)."""
    transfer = _transfer_question(data)
    if transfer is not None and settings.may_transfer(client_ip):
        yield from _transfer(snapshot, data, transfer, settings)
        return
    response = respond(snapshot, data, settings, client_ip, tcp=True)
    if response is not None:
        yield response


def _transfer_question(data: bytes) -> bytes | None:
    """The question of a well-formed AXFR/IXFR query, else None (respond() handles it)."""
    if len(data) < 17 or data[2] & 0xF8 or data[4:6] != b"\x00\x01":
        return None
    try:
        end = wire.question_end(data)
    except FormatError:
        return None
    question = data[12:end]
    qtype = int.from_bytes(question[-4:-2], "big")
    if qtype not in (AXFR, IXFR) or question[-2:] != b"\x00\x01":
        return None
    if end != len(data):
        try:
            wire.parse_opt(data, end)
        except FormatError:
            return None
    elif data[6:12] != bytes(6):
        return None  # IXFR carries the client's SOA in authority; treated as AXFR below
    return question


def _transfer(
    snapshot: Snapshot, data: bytes, question: bytes, settings: ResponderSettings
) -> Iterator[bytes]:
    """AXFR (and IXFR answered as a full transfer, RFC 1995 4): SOA first and last."""
    qname = dns.name.from_wire(question.lower(), 0)[0]
    zone = snapshot.catalog.zones.get(qname)
    if zone is None:
        yield _error(data, wire.RCODE_NOTAUTH, question, None, settings)
        return
    count_one(settings.counters, wire.RCODE_NOERROR, (question[-4] << 8) | question[-3])
    records: list[dns.rrset.RRset] = [zone.soa]
    for name, by_type in sorted(zone.owners(), key=lambda owner: owner[0]):
        for rdtype, rrset in sorted(by_type.items()):
            if not (name == zone.origin and rdtype == SOA):
                records.extend(_split(rrset))
    records.append(zone.soa)
    bits = (data[2] & 1) | ((data[3] & 0x10) << 3)
    head = data[:2] + FLAGS[wire.flags_index(wire.RCODE_NOERROR, authoritative=True) + bits]
    out, compress, count = io.BytesIO(), dict[dns.name.Name, int](), 0
    for rrset in records:
        if out.tell() > TRANSFER_MESSAGE_SIZE:
            yield head + wire.counts(count, 0, 0) + out.getvalue()[12:]
            out, compress, count = io.BytesIO(), {}, 0
        if count == 0:
            out.write(bytes(12) + question)
        rrset.to_wire(out, compress)
        count += 1
    yield head + wire.counts(count, 0, 0) + out.getvalue()[12:]


def _split(rrset: dns.rrset.RRset) -> list[dns.rrset.RRset]:
    return [dns.rrset.from_rdata(rrset.name, rrset.ttl, rdata) for rdata in rrset]
