"""Property tests of the query parser and the responder against hostile input.

``respond`` runs on every packet anyone on the internet sends, so it must never raise: the UDP
loop survives an exception, but the query goes unanswered and the error log fills up. Every
response must also be a well-formed DNS message to a decoder that shares no code with gslb:
responses are decoded with dnslib (gslb renders with dnspython, so dnspython would forgive the
same mistakes it makes). The example tests at the end pin the rcode gslb owes each kind of
malformed or unsupported query, and the ECS validation rules of RFC 7871 6 and 7.1.1.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dns.edns
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.wire
import dnslib
import pytest
from dnslib.dns import RR, DNSHeader, DNSQuestion
from dnslib.label import DNSBuffer, DNSLabel
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from gslb.answer.responder import ResponderSettings, respond, respond_stream
from gslb.dns import wire
from gslb.dns.zonefile import load_zones
from gslb.errors import FormatError
from gslb.snapshot.snapshot import Snapshot, build
from tests.conftest import EXAMPLE_ZONES, TEST_ZONES

SETTINGS = ResponderSettings()
# A client allowed to transfer zones, so respond_stream's AXFR path is fuzzed too.
TRANSFER_CLIENT = "127.0.0.2"
TRANSFER_SETTINGS = ResponderSettings(transfer_allowed=(ipaddress.ip_network("127.0.0.2/32"),))
UDP_LIMIT_WITHOUT_EDNS = 512

# Parser properties are cheap; responder properties render answers, so they get fewer examples.
PARSER = settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
RESPONDER = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Names that reach every branch of the responder: precomputed answers, CNAME chains, wildcards,
# delegations, empty non-terminals, NXDOMAIN, names outside both zones, and the root.
NAMES = (
    "gslb.example.test.",
    "www.gslb.example.test.",
    "api.gslb.example.test.",
    "docs.gslb.example.test.",
    "_http._tcp.www.gslb.example.test.",
    "nothere.gslb.example.test.",
    "auth.test.",
    "host.auth.test.",
    "big.auth.test.",
    "bigmx.auth.test.",
    "alias2.auth.test.",
    "dangling.auth.test.",
    "loop1.auth.test.",
    "b.c.auth.test.",
    "x.wild.auth.test.",
    "sub.wild.auth.test.",
    "y.cwild.auth.test.",
    "deep.sub.auth.test.",
    "other.auth.test.",
    "example.com.",
    ".",
)
# Types the zones answer, then meta and odd types; repeats weight the draw towards answers.
ANSWERED_QTYPES = (1, 28, 16, 15, 6, 2, 5, 33, 255, 257, 12, 13)
QTYPES = (*ANSWERED_QTYPES * 3, 0, 41, 43, 46, 99, 250, 251, 252, 253, 254, 65280)
QCLASSES = (*(1,) * 12, 3, 4, 254, 255, 0)
OPCODES = (*(0,) * 12, 1, 2, 4, 5, 15)


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> Snapshot:
    """Both zone directories' files in one directory, loaded as ``gslb serve`` would load them."""
    directory = tmp_path_factory.mktemp("zones")
    for source in (*EXAMPLE_ZONES.glob("*.zone"), *TEST_ZONES.glob("*.zone")):
        shutil.copy(source, directory / source.name)
    return build(load_zones(directory))


# --- an independent decoder ------------------------------------------------------------------


class _AnyLabelBuffer(DNSBuffer):  # type: ignore[misc]
    """dnslib's buffer without its one non-RFC check: that label bytes be UTF-8.

    Label octets are arbitrary binary (RFC 2181 11), and gslb copies the question byte for byte,
    so fuzzed queries yield legitimate responses that dnslib refuses for that reason alone.
    Pointer rules are kept as dnslib has them (only backwards, no loops).
    """

    offset: int

    def decode_name(self, last: int = -1) -> Any:
        labels: list[bytes] = []
        for _ in range(len(self.data) + 1):  # every step consumes at least one byte
            (length,) = self.unpack("!B")
            if length >> 6 == 3:
                self.offset -= 1
                pointer = self.unpack("!H")[0] & 0x3FFF
                save = self.offset
                if last == save or pointer >= save:
                    raise dnslib.DNSError(f"bad compression pointer {pointer} at {save}")
                self.offset = pointer
                labels.extend(self.decode_name(save).label)
                self.offset = save
                return DNSLabel(labels)
            if length == 0:
                return DNSLabel(labels)
            if length > 63:
                raise dnslib.DNSError(f"label type {length >> 6} is not a plain label")
            labels.append(self.get(length))
        raise dnslib.DNSError("name longer than the message")


@dataclass(frozen=True)
class Decoded:
    """What the properties check of a response, as dnslib read it."""

    header: Any  # dnslib.DNSHeader
    question_end: int  # offset just past the question section
    additional: list[Any]  # dnslib.RR


def decode(response: bytes) -> Decoded:
    """Decode ``response`` with dnslib, failing the test on anything dnslib cannot read.

    ``DNSRecord.parse`` is tried first, exactly as published; where its only complaint is a
    non-UTF-8 label, the message is walked again with ``_AnyLabelBuffer``. The walk also checks
    that the sections end exactly where the message does, which ``DNSRecord.parse`` does not.
    """
    try:
        dnslib.DNSRecord.parse(response)
    except dnslib.DNSError as exc:
        assert "Invalid label" in str(exc), f"dnslib cannot decode {response.hex()}: {exc}"
    buffer = _AnyLabelBuffer(response)
    try:
        header = DNSHeader.parse(buffer)
        for _ in range(header.q):
            DNSQuestion.parse(buffer)
        question_end = buffer.offset
        for _ in range(header.a + header.auth):
            RR.parse(buffer)
        additional = [RR.parse(buffer) for _ in range(header.ar)]
    except Exception as exc:  # dnslib raises several unrelated types; all mean "malformed"
        raise AssertionError(f"dnslib cannot decode {response.hex()}: {exc!r}") from exc
    assert buffer.offset == len(response), (
        f"{len(response) - buffer.offset} trailing bytes in {response.hex()}"
    )
    return Decoded(header, question_end, additional)


def check_response(query: bytes, response: bytes | None, tcp: bool = False) -> None:
    """The invariants of every response gslb sends, whatever the query was."""
    if len(query) < wire.HEADER_SIZE or query[2] & 0x80:
        assert response is None, "a response (or a headerless fragment) must never be answered"
        return
    if response is None:
        return  # dropping is always allowed; answering malformed input is the exception
    assert isinstance(response, bytes)
    decoded = decode(response)
    header = decoded.header
    assert response[:2] == query[:2], "ID not copied"
    assert header.qr == 1, "QR not set"
    assert header.opcode == (query[2] >> 3) & 0xF, "opcode not copied"
    assert header.rd == query[2] & 1, "RD not copied (RFC 1035 4.1.1)"
    assert header.cd == (query[3] >> 4) & 1, "CD not copied (RFC 4035 3.1.6)"
    assert header.q <= 1
    # The question is echoed byte for byte, letter case included.
    assert response[wire.HEADER_SIZE : decoded.question_end] == query[wire.HEADER_SIZE : decoded.question_end]
    if header.tc:
        assert header.a == 0 and header.auth == 0, "TC with partial RRsets (RFC 2181 9)"
    opts = [rr for rr in decoded.additional if rr.rtype == dns.rdatatype.OPT]
    assert len(opts) <= 1, "more than one OPT record (RFC 6891 6.1.1)"
    if opts:
        assert opts[0].rname.label == (), "OPT owner is not the root"
    if not tcp:
        limit = SETTINGS.max_udp_payload if opts else UDP_LIMIT_WITHOUT_EDNS
        assert len(response) <= limit, f"{len(response)}-byte UDP response over {limit}"


def answer(snapshot: Snapshot, query: bytes, tcp: bool = False) -> bytes | None:
    """``respond`` as the UDP loop calls it, with the response checked."""
    response = respond(snapshot, query, SETTINGS, "127.0.0.1", tcp=tcp)
    check_response(query, response, tcp)
    return response


# --- strategies --------------------------------------------------------------------------------


def name_wire(name: str | dns.name.Name) -> bytes:
    """``name`` as an uncompressed wire-format name."""
    packed = (dns.name.from_text(name) if isinstance(name, str) else name).to_wire()
    assert packed is not None
    return packed


def random_case(name: bytes, mask: int) -> bytes:
    """``name`` with the letters chosen by ``mask`` upper-cased: case must not change the answer."""
    return bytes(b - 32 if 97 <= b <= 122 and mask >> (i % 64) & 1 else b for i, b in enumerate(name))


@st.composite
def client_subnets(draw: st.DrawFn) -> bytes:
    """A valid ECS option value (RFC 7871 6): address truncated to its prefix, scope 0."""
    family = draw(st.sampled_from((1, 2)))
    bits = 32 if family == 1 else 128
    prefix = draw(st.integers(0, bits))
    address = draw(st.integers(0, 2**bits - 1)) >> (bits - prefix) << (bits - prefix)
    packed = address.to_bytes(bits // 8, "big")[: (prefix + 7) // 8]
    return struct.pack("!HBB", family, prefix, 0) + packed


@st.composite
def broken_client_subnets(draw: st.DrawFn) -> bytes:
    """An ECS value with one rule broken, or none at all: random bytes."""
    value = bytearray(draw(client_subnets()))
    fault = draw(st.sampled_from(("family", "prefix", "scope", "short", "long", "stray", "random")))
    if fault == "family":
        value[0:2] = draw(st.integers(3, 65535).map(lambda f: f.to_bytes(2, "big")))
    elif fault == "prefix":
        value[2] = draw(st.integers(129, 255))
    elif fault == "scope":
        value[3] = draw(st.integers(1, 255))
    elif fault == "short":
        del value[draw(st.integers(0, len(value) - 1)) :]
    elif fault == "long":
        value += draw(st.binary(min_size=1, max_size=4))
    elif fault == "stray" and value[2] % 8:
        value[-1] |= 0xFF >> (value[2] % 8)
    else:
        return draw(st.binary(max_size=24))
    return bytes(value)


def edns_option(code: int, value: bytes) -> bytes:
    return struct.pack("!HH", code, len(value)) + value


edns_options = st.one_of(
    client_subnets().map(lambda v: edns_option(wire.OPTION_ECS, v)),
    broken_client_subnets().map(lambda v: edns_option(wire.OPTION_ECS, v)),
    st.tuples(st.integers(0, 65535), st.binary(max_size=16)).map(lambda o: edns_option(*o)),
    # a cookie, empty padding, and an option header cut in half
    st.sampled_from((b"\x00\x0a\x00\x08" + bytes(8), b"\x00\x0c\x00\x00", b"\x00\x08")),
)


@st.composite
def opt_records(draw: st.DrawFn) -> bytes:
    """An OPT pseudo-record, mostly valid, with any options (several ECS included)."""
    payload = draw(st.one_of(st.sampled_from((0, 512, 1232, 4096, 65535)), st.integers(0, 65535)))
    version = draw(st.sampled_from((0, 0, 0, 1, 255)))
    flags = draw(st.sampled_from((0, 0x8000, 0xFFFF)))
    extended_rcode = draw(st.sampled_from((0, 0, 1)))
    options = b"".join(draw(st.lists(edns_options, max_size=3)))
    return (
        b"\x00" + struct.pack("!HHBBHH", 41, payload, extended_rcode, version, flags, len(options)) + options
    )


@st.composite
def queries(draw: st.DrawFn) -> bytes:
    """A well-formed query (header, one question, maybe OPT) that may ask for anything."""
    name = random_case(name_wire(draw(st.sampled_from(NAMES))), draw(st.integers(0, 2**64 - 1)))
    qtype = draw(st.one_of(st.sampled_from(QTYPES), st.sampled_from(QTYPES), st.integers(0, 65535)))
    qclass = draw(st.one_of(st.sampled_from(QCLASSES), st.sampled_from(QCLASSES), st.integers(0, 65535)))
    opt = draw(st.one_of(st.just(b""), opt_records()))
    opcode = draw(st.sampled_from(OPCODES))
    rd, cd, ad = draw(st.booleans()), draw(st.booleans()), draw(st.booleans())
    flags = opcode << 11 | rd << 8 | cd << 4 | ad << 5
    header = struct.pack("!HHHHHH", draw(st.integers(0, 65535)), flags, 1, 0, 0, 1 if opt else 0)
    return header + name + struct.pack("!HH", qtype, qclass) + opt


# One edit of a message: (kind, position, value). Positions wrap around the current length.
Mutation = tuple[str, int, int]
mutations = st.tuples(
    st.sampled_from(("flip", "truncate", "insert", "delete", "count", "byte")),
    st.integers(0, 2**16),
    st.integers(0, 65535),
)


def mutate(message: bytes, edits: list[Mutation]) -> bytes:
    """Apply ``edits`` in order: bit flips, truncation, inserted/deleted bytes, header counts."""
    data = bytearray(message)
    for kind, position, value in edits:
        if kind == "flip" and data:
            data[position % len(data)] ^= 1 << (value % 8)
        elif kind == "truncate":
            del data[position % (len(data) + 1) :]
        elif kind == "insert":
            data.insert(position % (len(data) + 1), value % 256)
        elif kind == "delete" and data:
            del data[position % len(data)]
        elif kind == "count" and len(data) >= wire.HEADER_SIZE:
            index = 4 + 2 * (position % 4)  # QDCOUNT, ANCOUNT, NSCOUNT or ARCOUNT
            data[index : index + 2] = (value if value % 3 else value % 4).to_bytes(2, "big")
        elif kind == "byte" and data:
            data[position % len(data)] = value % 256
    return bytes(data)


mutated_queries = st.builds(mutate, queries(), st.lists(mutations, min_size=1, max_size=4))


# --- properties of respond ---------------------------------------------------------------------


@RESPONDER
@given(data=st.binary(max_size=600), tcp=st.booleans())
def test_random_bytes_are_dropped_or_answered_well_formed(snapshot: Snapshot, data: bytes, tcp: bool) -> None:
    answer(snapshot, data, tcp)


@RESPONDER
@given(
    header=st.binary(min_size=12, max_size=12).map(lambda h: h[:2] + bytes((h[2] & 0x7F,)) + h[3:]),
    body=st.binary(max_size=300),
)
def test_random_bodies_behind_a_query_header_are_answered_well_formed(
    snapshot: Snapshot, header: bytes, body: bytes
) -> None:
    """Half of all random packets have QR set and are dropped; this half reaches the parser."""
    answer(snapshot, header + body)


@RESPONDER
@given(query=queries(), tcp=st.booleans())
def test_well_formed_queries_are_answered_well_formed(snapshot: Snapshot, query: bytes, tcp: bool) -> None:
    assert answer(snapshot, query, tcp) is not None, "a well-formed query with a readable header is answered"


@RESPONDER
@given(query=mutated_queries, tcp=st.booleans())
# UPDATE with a cut OPT: its FORMERR is one dnspython cannot read (an UPDATE zone must be SOA).
@example(
    query=bytes.fromhex(
        "f4422d01000100000000000101780477696c6404617574680474657374000001000100002944d0000000"
    ),
    tcp=False,
)
def test_mutated_queries_are_dropped_or_answered_well_formed(
    snapshot: Snapshot, query: bytes, tcp: bool
) -> None:
    answer(snapshot, query, tcp)


@RESPONDER
@given(query=st.one_of(queries(), mutated_queries, st.binary(max_size=300)).filter(lambda q: len(q) >= 3))
def test_messages_with_qr_set_are_never_answered(snapshot: Snapshot, query: bytes) -> None:
    """Answering responses would let two servers (or a spoofed one) bounce packets forever."""
    response = query[:2] + bytes((query[2] | 0x80,)) + query[3:]
    assert respond(snapshot, response, SETTINGS, "127.0.0.1") is None
    assert respond(snapshot, response, SETTINGS, "127.0.0.1", tcp=True) is None


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(query=st.one_of(queries(), mutated_queries))
def test_tcp_stream_responses_are_well_formed(snapshot: Snapshot, query: bytes) -> None:
    """respond_stream adds zone transfers for allowed clients; each message must stand alone."""
    responses = list(respond_stream(snapshot, query, TRANSFER_SETTINGS, TRANSFER_CLIENT))
    assert len(responses) <= 1000
    for response in responses:
        check_response(query, response, tcp=True)
        assert len(response) <= 65535


@RESPONDER
@given(query=st.one_of(queries(), mutated_queries), tcp=st.booleans())
def test_precomputed_answers_match_the_general_path(snapshot: Snapshot, query: bytes, tcp: bool) -> None:
    """The fast path (a precomputed answer) must say what resolving the question would say.

    The same snapshot without its precomputed answers sends every query down the general path.
    dnspython shuffles RRs when rendering, so the two are compared as messages (RRsets compare
    as sets), not as bytes.
    """
    general = dataclasses.replace(snapshot, answers={})
    fast = respond(snapshot, query, SETTINGS, "127.0.0.1", tcp=tcp)
    slow = respond(general, query, SETTINGS, "127.0.0.1", tcp=tcp)
    if fast == slow:
        return
    assert fast is not None and slow is not None, f"only one path answered {query.hex()}"
    assert len(fast) == len(slow), f"sizes differ for {query.hex()}"
    ours, theirs = dns.message.from_wire(fast), dns.message.from_wire(slow)
    assert ours == theirs, f"answers differ for {query.hex()}:\n{ours}\n---\n{theirs}"
    assert (ours.edns, ours.ednsflags, ours.payload, ours.options) == (
        theirs.edns,
        theirs.ednsflags,
        theirs.payload,
        theirs.options,
    )


# --- properties of the parsers -----------------------------------------------------------------

HEADER = bytes.fromhex("abcd 0000 0001 0000 0000 0001")
QUESTION = name_wire("www.gslb.example.test.") + b"\x00\x01\x00\x01"


@PARSER
@given(data=st.binary(max_size=300))
@example(data=HEADER + b"\x3f" + b"a" * 63 + b"\x00")
@example(data=HEADER + (b"\x3f" + b"a" * 63) * 4 + b"\x00\x00\x01\x00\x01")
@example(data=HEADER + (b"\x3f" + b"a" * 63) * 3 + b"\x3e" + b"a" * 62 + b"\x00\x00\x01\x00\x01")
@example(data=HEADER + b"\xc0\x0c\x00\x01\x00\x01")
def test_question_end_agrees_with_dnspython(data: bytes) -> None:
    """question_end finds the same name dnspython does, except that it refuses compression."""
    data = HEADER + data if len(data) < wire.HEADER_SIZE else data
    try:
        end: int | None = wire.question_end(data)
    except FormatError:
        end = None
    try:
        name, used = dns.name.from_wire(data, wire.HEADER_SIZE)
    except dns.exception.DNSException:
        assert end is None, f"question_end accepted a name dnspython refuses: {data.hex()}"
        return
    compressed = used != len(name_wire(name))
    if compressed or wire.HEADER_SIZE + used + 4 > len(data):
        assert end is None
    else:
        assert end == wire.HEADER_SIZE + used + 4


@PARSER
@given(
    tail=st.binary(max_size=80), arcount=st.sampled_from((b"\x00\x01", b"\x00\x01", b"\x00\x02", b"\x00\x00"))
)
def test_parse_opt_raises_only_format_error(tail: bytes, arcount: bytes) -> None:
    data = HEADER[:10] + arcount + QUESTION + tail
    try:
        edns = wire.parse_opt(data, len(HEADER) + len(QUESTION))
    except FormatError:
        return
    assert edns.payload >= wire.MIN_UDP_PAYLOAD
    assert 0 <= edns.version <= 255


@PARSER
@given(opt=opt_records())
def test_parse_opt_agrees_with_dnspython(opt: bytes) -> None:
    """Where dnspython reads the OPT record and its ECS option, parse_opt reads the same."""
    data = HEADER + QUESTION + opt
    try:
        edns: wire.Edns | None = wire.parse_opt(data, len(HEADER) + len(QUESTION))
    except FormatError:
        edns = None
    try:
        message = dns.message.from_wire(data)
    except dns.exception.DNSException:
        return  # dnspython also validates options gslb has no reason to read (cookies, padding)
    ecs = [o for o in message.options if isinstance(o, dns.edns.ECSOption)]
    if edns is None:
        # gslb is stricter than dnspython only about ECS (one option, RFC 7871 7.1.1 rules).
        assert ecs, f"parse_opt refused an OPT record dnspython reads: {opt.hex()}"
        return
    assert edns.version == message.edns
    assert edns.payload == max(message.payload, wire.MIN_UDP_PAYLOAD)
    assert edns.dnssec_ok == bool(message.ednsflags & dns.flags.DO)
    if edns.client_subnet is None:
        assert not ecs
    else:
        assert len(ecs) == 1
        assert edns.client_subnet.network() == ipaddress.ip_network(f"{ecs[0].address}/{ecs[0].srclen}")


@PARSER
@given(value=st.binary(max_size=24))
@example(value=b"\x00\x01\x18\x00\xc0\x00\x02")
@example(value=b"\x00\x02\x00\x00")
def test_parse_client_subnet_validates_or_raises_format_error(value: bytes) -> None:
    try:
        subnet = wire.parse_client_subnet(value)
    except FormatError:
        return
    assert subnet.family in (1, 2)
    assert subnet.scope_prefix == 0
    assert len(subnet.address) == (subnet.source_prefix + 7) // 8
    assert subnet.network().prefixlen == subnet.source_prefix  # strict: no bits beyond the prefix
    assert subnet.option(0) == edns_option(wire.OPTION_ECS, value), "echo must repeat the option as sent"


@PARSER
@given(value=client_subnets())
def test_valid_client_subnets_match_dnspython(value: bytes) -> None:
    """dnspython's ECS decoder is an independent reading of the same RFC 7871 6 layout."""
    subnet = wire.parse_client_subnet(value)
    theirs = dns.edns.ECSOption.from_wire_parser(dns.edns.OptionType.ECS, dns.wire.Parser(value))
    assert isinstance(theirs, dns.edns.ECSOption)
    assert subnet.network() == ipaddress.ip_network(f"{theirs.address}/{theirs.srclen}")


# --- ECS edge cases ----------------------------------------------------------------------------


def ecs(family: int, source: int, scope: int, address: bytes) -> bytes:
    return struct.pack("!HBB", family, source, scope) + address


@pytest.mark.parametrize(
    ("value", "network"),
    [
        (ecs(1, 0, 0, b""), "0.0.0.0/0"),
        (ecs(2, 0, 0, b""), "::/0"),
        (ecs(1, 24, 0, bytes((192, 0, 2))), "192.0.2.0/24"),
        (ecs(1, 32, 0, bytes((192, 0, 2, 1))), "192.0.2.1/32"),
        (ecs(1, 20, 0, bytes((198, 51, 96))), "198.51.96.0/20"),
        (ecs(2, 56, 0, bytes.fromhex("20010db8123456")), "2001:db8:1234:5600::/56"),
        (ecs(2, 128, 0, bytes.fromhex("20010db8000000000000000000000001")), "2001:db8::1/128"),
    ],
)
def test_client_subnet_accepted(value: bytes, network: str) -> None:
    subnet = wire.parse_client_subnet(value)
    assert subnet.network() == ipaddress.ip_network(network)
    assert subnet.option(0)[4:] == value


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (ecs(1, 24, 0, bytes((192, 0, 2, 0))), "address longer than the prefix needs"),
        (ecs(1, 24, 0, bytes((192, 0))), "address shorter than the prefix needs"),
        (ecs(1, 0, 0, b"\x00"), "address bytes with prefix 0"),
        (ecs(2, 56, 0, bytes.fromhex("20010db81234")), "IPv6 /56 with 6 bytes"),
        (ecs(1, 20, 0, bytes((198, 51, 97))), "bits set beyond the prefix"),
        (ecs(2, 57, 0, bytes.fromhex("20010db8123456ff")), "bits set beyond the prefix (IPv6)"),
        (ecs(1, 24, 24, bytes((192, 0, 2))), "scope prefix in a query"),
        (ecs(1, 24, 1, bytes((192, 0, 2))), "any non-zero scope prefix"),
        (ecs(1, 33, 0, bytes(5)), "IPv4 prefix beyond 32"),
        (ecs(2, 129, 0, bytes(17)), "IPv6 prefix beyond 128"),
        (ecs(0, 0, 0, b""), "family 0"),
        (ecs(3, 0, 0, b""), "unknown family"),
        (ecs(0x0100, 24, 0, bytes(3)), "family in the wrong byte order"),
        (b"\x00\x01\x18", "shorter than 4 octets"),
        (b"", "empty"),
    ],
)
def test_client_subnet_refused(value: bytes, why: str) -> None:
    with pytest.raises(FormatError):
        wire.parse_client_subnet(value)


# --- rcodes for malformed and unsupported queries ------------------------------------------------


def make_query(
    name: str = "www.gslb.example.test.",
    rdtype: str | int = "A",
    rdclass: str | int = "IN",
    use_edns: int | bool | None = None,
    options: list[dns.edns.Option] | None = None,
) -> bytes:
    query = dns.message.make_query(
        name,
        dns.rdatatype.RdataType.make(rdtype),
        dns.rdataclass.RdataClass.make(rdclass),
        use_edns=use_edns,
        options=options,
    )
    return query.to_wire()


def rcode_of(
    snapshot: Snapshot, query: bytes, tcp: bool = False
) -> tuple[dns.rcode.Rcode, dns.message.Message]:
    """respond()'s rcode, extended bits included, as dnspython reads it."""
    response = answer(snapshot, query, tcp)
    assert response is not None
    message = dns.message.from_wire(response)
    return message.rcode(), message


def with_opt(query: bytes, rdata: bytes, version: int = 0) -> bytes:
    """``query`` (without EDNS) with a hand-built OPT record whose RDATA is ``rdata``."""
    head = query[:10] + b"\x00\x01" + query[12:]
    return head + b"\x00" + struct.pack("!HHBBHH", 41, 1232, 0, version, 0, len(rdata)) + rdata


def test_answer_section_in_a_query_is_formerr(snapshot: Snapshot) -> None:
    query = make_query()
    assert rcode_of(snapshot, query[:6] + b"\x00\x01" + query[8:])[0] == dns.rcode.FORMERR


@pytest.mark.parametrize("qdcount", [0, 2])
def test_question_count_other_than_one_is_formerr(snapshot: Snapshot, qdcount: int) -> None:
    query = make_query()
    rcode, message = rcode_of(snapshot, query[:4] + qdcount.to_bytes(2, "big") + query[6:])
    assert rcode == dns.rcode.FORMERR
    assert not message.question


@pytest.mark.parametrize("cut", [1, 3, 5, 20])
def test_truncated_question_is_formerr(snapshot: Snapshot, cut: int) -> None:
    assert rcode_of(snapshot, make_query()[:-cut])[0] == dns.rcode.FORMERR


def test_compressed_question_name_is_formerr(snapshot: Snapshot) -> None:
    query = make_query()
    assert rcode_of(snapshot, query[:12] + b"\xc0\x0c\x00\x01\x00\x01")[0] == dns.rcode.FORMERR


@pytest.mark.parametrize("qtype", [0, dns.rdatatype.OPT])
def test_meaningless_question_types_are_formerr(snapshot: Snapshot, qtype: int) -> None:
    assert rcode_of(snapshot, make_query(rdtype=qtype))[0] == dns.rcode.FORMERR


@pytest.mark.parametrize(
    ("rdata", "why"),
    [
        (edns_option(8, ecs(1, 24, 0, bytes((192, 0, 2)))) * 2, "two ECS options"),
        (edns_option(8, ecs(1, 24, 8, bytes((192, 0, 2)))), "ECS scope in a query"),
        (edns_option(8, ecs(7, 0, 0, b"")), "ECS family unknown"),
        (edns_option(8, ecs(1, 20, 0, bytes((198, 51, 97)))), "ECS bits beyond prefix"),
        (b"\x00\x08\x00", "option header cut short"),
        (b"\x00\x0a\x00\x08\x00", "option longer than the OPT record"),
    ],
)
@pytest.mark.parametrize("name", ["www.gslb.example.test.", "nothere.gslb.example.test."])
def test_malformed_edns_is_formerr(snapshot: Snapshot, rdata: bytes, why: str, name: str) -> None:
    """Both the precomputed fast path (www) and the slow path (nothere) must refuse the same."""
    assert rcode_of(snapshot, with_opt(make_query(name), rdata))[0] == dns.rcode.FORMERR


def test_opt_rdlength_past_the_message_is_formerr(snapshot: Snapshot) -> None:
    query = with_opt(make_query(), b"")
    assert rcode_of(snapshot, query[:-2] + b"\x00\x04")[0] == dns.rcode.FORMERR


def test_two_additional_records_are_formerr(snapshot: Snapshot) -> None:
    query = with_opt(make_query(), b"")
    assert rcode_of(snapshot, query[:10] + b"\x00\x02" + query[12:])[0] == dns.rcode.FORMERR


@pytest.mark.parametrize("opcode", [dns.opcode.IQUERY, dns.opcode.STATUS, dns.opcode.NOTIFY, 15])
def test_other_opcodes_are_notimp_with_opcode_copied(snapshot: Snapshot, opcode: int) -> None:
    query = bytearray(make_query())
    query[2] |= opcode << 3
    rcode, message = rcode_of(snapshot, bytes(query))
    assert rcode == dns.rcode.NOTIMP
    assert message.opcode() == opcode


@pytest.mark.parametrize("qtype", ["TKEY", "TSIG", "MAILA", "MAILB"])
def test_unsupported_meta_types_are_notimp(snapshot: Snapshot, qtype: str) -> None:
    assert rcode_of(snapshot, make_query(rdtype=qtype))[0] == dns.rcode.NOTIMP


@pytest.mark.parametrize(
    "name", ["www.gslb.example.test.", "nothere.gslb.example.test.", "x.wild.auth.test."]
)
@pytest.mark.parametrize("version", [1, 255])
def test_unknown_edns_version_is_badvers_with_opt(snapshot: Snapshot, name: str, version: int) -> None:
    """BADVERS (16) does not fit the header's 4 bits: its upper bits travel in the OPT TTL."""
    rcode, message = rcode_of(snapshot, make_query(name, use_edns=version))
    assert rcode == dns.rcode.BADVERS
    assert message.edns == 0, "the response's OPT must carry the version gslb speaks"
    assert not message.answer


def test_badvers_echoes_the_do_bit(snapshot: Snapshot) -> None:
    query = dns.message.make_query("www.gslb.example.test.", "A", use_edns=1, want_dnssec=True)
    rcode, message = rcode_of(snapshot, query.to_wire())
    assert rcode == dns.rcode.BADVERS
    assert message.ednsflags & dns.flags.DO


@pytest.mark.parametrize(
    ("name", "rdtype", "rdclass", "tcp"),
    [
        ("www.gslb.example.test.", "A", "CH", False),
        ("www.gslb.example.test.", "A", "ANY", False),
        ("version.bind.", "TXT", "CH", False),
        ("example.com.", "A", "IN", False),
        ("test.", "SOA", "IN", False),
        ("gslb.example.test.", "AXFR", "IN", False),
        ("gslb.example.test.", "AXFR", "IN", True),
        ("gslb.example.test.", "IXFR", "IN", True),
    ],
)
def test_refused(snapshot: Snapshot, name: str, rdtype: str, rdclass: str, tcp: bool) -> None:
    """Other classes, names outside our zones, and transfers from clients not allowed them."""
    assert rcode_of(snapshot, make_query(name, rdtype, rdclass), tcp=tcp)[0] == dns.rcode.REFUSED


def test_ixfr_over_udp_from_allowed_client_is_answered_with_the_soa(snapshot: Snapshot) -> None:
    query = make_query("auth.test.", "IXFR")
    response = respond(snapshot, query, TRANSFER_SETTINGS, TRANSFER_CLIENT)
    assert response is not None
    message = dns.message.from_wire(response)
    assert message.rcode() == dns.rcode.NOERROR
    assert [rrset.rdtype for rrset in message.answer] == [dns.rdatatype.SOA]


def test_error_responses_keep_the_question_and_id(snapshot: Snapshot) -> None:
    query = make_query("WwW.GsLb.example.test.", "A", "CH")
    rcode, message = rcode_of(snapshot, query)
    assert rcode == dns.rcode.REFUSED
    assert message.id == dns.message.from_wire(query).id
    assert message.question[0].name == dns.name.from_text("WwW.GsLb.example.test.")


# --- regressions found by fuzzing ---------------------------------------------------------------


def test_qtype_bytes_are_not_case_folded(tmp_path: Path) -> None:
    """TYPE67 (0x0043, 'C') must not be answered from the precomputed SPF (99, 0x0063, 'c') RRset."""
    (tmp_path / "spf.test.zone").write_text(
        "$ORIGIN spf.test.\n$TTL 300\n@ SOA ns1 hostmaster 1 3600 600 86400 60\n"
        '@ NS ns1\nns1 A 127.0.0.1\n@ SPF "v=spf1 -all"\n'
    )
    spf = build(load_zones(tmp_path))
    response = respond(spf, make_query("spf.test.", 67), SETTINGS)
    assert response is not None
    message = dns.message.from_wire(response)
    assert [rrset.rdtype for rrset in message.answer] == [], "TYPE67 answered with SPF records"


def test_badvers_advertises_the_configured_payload_on_the_fast_path(snapshot: Snapshot) -> None:
    large = ResponderSettings(max_udp_payload=4096)
    for name in ("nothere.gslb.example.test.", "www.gslb.example.test."):  # slow path, then fast path
        response = respond(snapshot, make_query(name, use_edns=1), large)
        assert response is not None
        message = dns.message.from_wire(response)
        assert message.rcode() == dns.rcode.BADVERS
        assert message.payload == 4096, f"{name}: BADVERS advertises {message.payload}"
