"""The negative-answer shortcut must agree with the general authoritative rules everywhere."""

from __future__ import annotations

import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gslb.answer.responder import ResponderSettings, respond
from gslb.dns import negative, zonefile
from gslb.dns.authority import resolve
from gslb.dns.render import render
from gslb.dns.wire import RCODE_NOERROR, RCODE_NXDOMAIN, RCODE_REFUSED
from gslb.snapshot import snapshot
from tests.conftest import EXAMPLE_ZONES, TEST_ZONES

SNAPSHOT = snapshot.build([*zonefile.load_zones(TEST_ZONES), *zonefile.load_zones(EXAMPLE_ZONES)])
LABELS = [
    "auth",
    "test",
    "gslb",
    "example",
    "www",
    "wild",
    "sub",
    "c",
    "b",
    "a",
    "host",
    "*",
    "alias",
    "x",
    "ns1",
]
TYPES = ["A", "AAAA", "MX", "TXT", "NS", "SOA", "CNAME", "SRV", "DS", "ANY", "TYPE65280"]


def general(qname: dns.name.Name, rdtype: int) -> dns.message.Message:
    """What the general rules answer, rendered into a whole message for comparison."""
    answer = render(qname, rdtype, 1, resolve(SNAPSHOT.catalog, qname, rdtype, tcp=True))
    query = dns.message.make_query(qname, dns.rdatatype.RdataType.make(rdtype)).to_wire()
    end = len(query)
    wire = query[:2] + b"\x84\x00" + answer.head + query[12:end] + answer.body
    message = dns.message.from_wire(wire)
    message.set_rcode(dns.rcode.Rcode.make(answer.flags >> 3))
    return message


def sections(message: dns.message.Message) -> tuple[int, list[str], list[str]]:
    return (
        message.rcode(),
        sorted(line for r in message.answer for line in r.to_text().splitlines()),
        sorted(line.lower() for r in message.authority for line in r.to_text().splitlines()),
    )


def wire_name(text: str) -> bytes:
    wire = dns.name.from_text(text).to_wire()
    assert wire is not None
    return wire


@pytest.mark.parametrize(
    ("qname", "rdtype", "expected"),
    [
        ("nope.auth.test", "A", RCODE_NXDOMAIN),
        ("a.b.nope.gslb.example.test", "AAAA", RCODE_NXDOMAIN),
        ("host.auth.test", "MX", RCODE_NOERROR),
        ("b.c.auth.test", "A", RCODE_NOERROR),
        ("example.com", "A", RCODE_REFUSED),
        ("foo.wild.auth.test", "A", None),  # wildcard: the general rules decide
        ("x.sub.auth.test", "A", None),  # below a delegation
        ("alias.auth.test", "MX", None),  # a CNAME to follow
        ("host.auth.test", "A", None),  # data exists
    ],
)
def test_classification(qname: str, rdtype: str, expected: int | None) -> None:
    answer = negative.classify(SNAPSHOT.negative, wire_name(qname), dns.rdatatype.from_text(rdtype))
    assert (None if answer is None else answer.flags >> 3) == expected


@settings(max_examples=600, deadline=None)
@given(
    labels=st.lists(
        st.one_of(st.sampled_from(LABELS), st.from_regex(r"[a-z0-9-]{1,8}", fullmatch=True)), max_size=5
    ),
    suffix=st.sampled_from(
        ["auth.test", "gslb.example.test", "test", "example.com", "c.auth.test", "wild.auth.test"]
    ),
    rdtype=st.sampled_from(TYPES),
)
def test_served_answers_match_the_general_rules(labels: list[str], suffix: str, rdtype: str) -> None:
    qname = dns.name.from_text(".".join([*labels, suffix]))
    qtype = dns.rdatatype.from_text(rdtype)
    served = respond(SNAPSHOT, dns.message.make_query(qname, rdtype).to_wire(), ResponderSettings(), tcp=True)
    assert served is not None
    assert sections(dns.message.from_wire(served)) == sections(general(qname, qtype))


@pytest.mark.parametrize(
    "qname",
    [
        b"\xc0\x0c",  # a compression pointer: nothing precedes the question to point at
        b"\x40" + b"a" * 64 + b"\x04auth\x04test\x00",  # a 64-octet label
        b"\x3fa" + (b"\x3f" + b"a" * 63) * 4 + b"\x00",  # over 255 octets
        b"\x05auth\x04test\x00",  # label lengths that do not add up to the name
    ],
)
def test_malformed_names_are_left_to_the_careful_parser(qname: bytes) -> None:
    assert negative.classify(SNAPSHOT.negative, qname, dns.rdatatype.A) is None
    query = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" + qname + b"\x00\x01\x00\x01"
    response = respond(SNAPSHOT, query, ResponderSettings())
    assert response is None or response[3] & 0x0F == dns.rcode.FORMERR
